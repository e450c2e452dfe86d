using CompensationLedger.Demo;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Funds;
using Marten;
using Npgsql;

namespace CompensationLedger.IntegrationTests.Infrastructure;

/// <summary>
/// <see cref="SnapshotRebuild{T}"/> for every snapshot the service decides on (claims, funds, cases, fund terms): rebuilt beside the live
/// table and swapped in gives what the inline snapshot and Marten's daemon write, and a fund rebuilt while money moves loses nothing.
/// (<c>ClaimSnapshotRebuildTests</c> races the claims' rebuild stage by stage.)
/// </summary>
public sealed class SnapshotRebuildTests(LedgerApp app) : IntegrationTest(app)
{
    private static readonly string[] Snapshots = [nameof(CompensationLedger.Claims.Claim), nameof(Fund), nameof(CompensationLedger.Cases.FraudCase), nameof(FundTerms)];

    private static string Table(string snapshot) => $"{LedgerSetup.Schema}.mt_doc_{snapshot.ToLowerInvariant()}";

    /// <summary>
    /// Every document's columns but <c>mt_last_modified</c>, one line each, by id; without the JSON's <c>version</c>, or without
    /// <c>mt_version</c>, if asked.
    /// </summary>
    private async Task<string> Documents(string snapshot, bool versionInJson = true, bool mtVersion = true)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select id, {(versionInJson ? "data" : "data - 'version'")}::text, {(mtVersion ? "mt_version" : "0")}::bigint, mt_dotnet_type from {Table(snapshot)} order by id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var text = new System.Text.StringBuilder();
        while (await reader.ReadAsync()) text.AppendLine($"{reader.GetGuid(0)} {reader.GetString(1)} {reader.GetInt64(2)} {reader.GetString(3)}");
        return text.ToString();
    }

    /// <summary>The table's indexes as PostgreSQL defines them (name, uniqueness, expression), one line each.</summary>
    private async Task<string> Indexes(string snapshot)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "select indexdef from pg_indexes where schemaname = @schema and tablename = @table order by indexname", connection);
        command.Parameters.AddWithValue("schema", LedgerSetup.Schema);
        command.Parameters.AddWithValue("table", $"mt_doc_{snapshot.ToLowerInvariant()}");
        await using var reader = await command.ExecuteReaderAsync();
        var text = new System.Text.StringBuilder();
        while (await reader.ReadAsync()) text.AppendLine(reader.GetString(0));
        return text.ToString();
    }

    private async Task<long> Count(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task every_snapshot_rebuilt_beside_its_table_holds_what_the_inline_snapshot_and_marten_s_daemon_write()
    {
        // The demo (appended in one go, as a seed does) and money moved through the service (FetchForWriting, as in production).
        await PutianDemo.SeedAsync(App.Store, App.Clock);
        await FairPlayFundDemo.SeedAsync(App.Store, App.Clock);
        await App.Deposit(FairPlayFundDemo.FundId, FairPlayFundDemo.GeneralPoolId, 12_345.67m, "SPONSOR-2011-REBUILD");
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 250_000.00m, "SPONSOR-2011-001");

        foreach (var snapshot in Snapshots)
        {
            // A seed's quick append leaves the documents' Version member 0 in the JSON (mt_version has the stream version); the rebuild and
            // the daemon put the stream version there, as the service's own writes do.
            // FundTerms folds a few of the fund stream's events: the inline snapshot stores the stream's version when it wrote the
            // terms (events of the same transaction after them included), the rebuild and Marten's daemon the version of the last event
            // they applied. Nothing reads it: a fund's decisions check the Fund document's version.
            var streamVersion = snapshot != nameof(FundTerms);
            var inline = await Documents(snapshot, versionInJson: false, mtVersion: streamVersion);
            inline.ShouldNotBeEmpty(snapshot);
            var indexes = await Indexes(snapshot);

            await LedgerRebuild.RebuildAsync(App.Store, snapshot, TimeSpan.FromMinutes(1), null, CancellationToken.None);
            (await Documents(snapshot, versionInJson: false, mtVersion: streamVersion)).ShouldBe(inline, snapshot);
            // Created with the new table (before it is filled), the same indexes as the live one's, under the same names.
            (await Indexes(snapshot)).ShouldBe(indexes, snapshot);
            (await Count($"select count(*) from {Table(snapshot)} where data ? 'version' and (data ->> 'version')::bigint <> mt_version")).ShouldBe(0, snapshot);
            (await Count($"select count(*) from pg_namespace where nspname like '{LedgerSetup.Schema}\\_%\\_rebuild'")).ShouldBe(0, snapshot);
            var rebuilt = await Documents(snapshot);

            using (var daemon = await App.Store.BuildProjectionDaemonAsync())
                await daemon.RebuildProjectionAsync(snapshot, TimeSpan.FromMinutes(1), CancellationToken.None);
            (await Documents(snapshot)).ShouldBe(rebuilt, $"{snapshot}, daemon");
        }
        // The tables swapped in are Marten's own: its schema check (what the service runs at start) finds nothing to change.
        await App.Store.Storage.Database.AssertDatabaseMatchesConfigurationAsync();
    }

    [Fact]
    public async Task the_rebuild_writes_each_document_s_json_as_utf8_bytes_identical_to_the_store_serializer_s()
    {
        await PutianDemo.SeedAsync(App.Store, App.Clock);
        await FairPlayFundDemo.SeedAsync(App.Store, App.Clock);
        var serializer = ((StoreOptions)App.Store.Options).Serializer();
        var json = new Utf8Documents(serializer);
        json.Direct.ShouldBeTrue("Marten's serializer options were not found: the rebuild would go through ToJson strings again");

        await using var session = App.Store.QuerySession();
        var documents = new List<object>();
        documents.AddRange(await session.Query<Fund>().ToListAsync());
        documents.AddRange(await session.Query<CompensationLedger.Claims.Claim>().Take(20).ToListAsync());
        documents.AddRange(await session.Query<CompensationLedger.Cases.FraudCase>().ToListAsync());
        documents.Count.ShouldBeGreaterThan(10);
        foreach (var document in documents)
            System.Text.Encoding.UTF8.GetString(json.Write(document).Span).ShouldBe(serializer.ToJson(document), document.GetType().Name);
    }

    private async Task WaitForAWriterBlockedOn(string table)
    {
        for (var tries = 0; tries < 200; tries++)
        {
            if (await Count($"select count(*) from pg_locks where not granted and relation = '{table}'::regclass") > 0) return;
            await Task.Delay(50);
        }
        throw new TimeoutException($"No writer came to wait for the locked {table}.");
    }

    [Fact]
    public async Task a_fund_rebuilt_while_money_moves_loses_no_deposit_and_the_service_goes_on_deciding_on_it()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        for (var i = 1; i <= 5; i++) await App.Deposit(fundId, poolId, 1_000.00m * i, $"SPONSOR-2011-00{i}");

        Task? blocked = null;
        // Folded two events at a time, so the fund's stream is folded in pieces onto the document so far, as a long one is.
        var result = await SnapshotRebuild<Fund>.RunWithPhasesAsync(App.Store, async phase =>
        {
            switch (phase)
            {
                case SnapshotRebuild<Fund>.Phase.FirstPassDone:
                    // After the first pass read the fund: a deposit through the service (it decides on the live document).
                    await App.Deposit(fundId, poolId, 100.00m, "SPONSOR-2011-LATE");
                    break;
                case SnapshotRebuild<Fund>.Phase.LiveTableLocked:
                    // A deposit arriving during the swap waits for it, then decides on the new table.
                    blocked = App.Deposit(fundId, poolId, 0.01m, "SPONSOR-2011-LAST");
                    await WaitForAWriterBlockedOn(Table(nameof(Fund)));
                    break;
            }
        }, CancellationToken.None, foldEvery: 2);
        await blocked!;

        result.StreamsFoldedAgain.ShouldBeGreaterThan(0);
        var pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("deposited").ShouldBe(15_100.01m);
        pool.Amount("available").ShouldBe(15_100.01m);

        // What a rebuild in one piece with nothing else going on gives, and Marten's daemon too.
        var raced = await Documents(nameof(Fund));
        await SnapshotRebuild<Fund>.RunAsync(App.Store, null, CancellationToken.None);
        (await Documents(nameof(Fund))).ShouldBe(raced);
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
            await daemon.RebuildProjectionAsync(nameof(Fund), TimeSpan.FromMinutes(1), CancellationToken.None);
        (await Documents(nameof(Fund))).ShouldBe(raced);

        // The service decides on the new table: a deposit reusing a bank reference is still refused, a new one counted.
        var again = await App.Finance().PostJson($"/api/funds/{fundId}/pools/{poolId}/deposits",
            new { amount = new { amount = 1.00m, currency = "USD" }, bankReference = "SPONSOR-2011-LATE", valueDate = "2011-05-30" });
        await again.ShouldBeProblem(409);
        await App.Deposit(fundId, poolId, 900.00m, "SPONSOR-2011-AFTER");
        (await App.GetFund(fundId)).Pool(poolId).Amount("deposited").ShouldBe(16_000.01m);
    }
}
