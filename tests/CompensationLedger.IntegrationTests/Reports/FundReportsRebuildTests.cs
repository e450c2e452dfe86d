using CompensationLedger.Demo;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using CompensationLedger.Reports;
using Marten;
using NodaTime;
using Npgsql;
using TrialBalance = CompensationLedger.Reports.TrialBalance;

namespace CompensationLedger.IntegrationTests.Reports;

/// <summary>
/// <see cref="FundReportsRebuild"/> (the <c>rebuild FundReports</c> command) against the inline projection that wrote the tables and
/// Marten's daemon replaying the events through it: the same six tables, to the byte, on two funds with pools, a cancelled and a
/// released round, a settlement, a return and its reissue, imported statements and a deposit stamped with the clock set back; and
/// raced by events committed at every stage of the rebuild, as <see cref="PaidVsLostTablesTests"/> races the paid-vs-lost rebuild.
/// </summary>
public sealed class FundReportsRebuildTests(LedgerApp app) : IntegrationTest(app)
{
    private static readonly Guid TestFund = FundReportTablesTests.FundId;
    private static readonly Guid DemoFund = FairPlayFundDemo.FundId;

    /// <summary>Both funds' whole history: the test fund of <see cref="FundReportTablesTests"/> and the demo fund with its statement.</summary>
    private async Task<string> TwoFunds()
    {
        var statementId = await FundReportTablesTests.Scenario(App);
        await FairPlayFundDemo.SeedAsync(App.Store, App.Clock);
        App.Clock.Reset(LedgerApp.Start + Duration.FromDays(10)); // "now" after the statement's import, so the reconciliation finds it
        return statementId;
    }

    private async Task<string> Tables()
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        var text = new System.Text.StringBuilder();
        foreach (var table in FundReportProjection.Tables)
        {
            await using var command = new NpgsqlCommand($"select t::text from {LedgerSetup.Schema}.{table} t order by t::text", connection);
            await using var reader = await command.ExecuteReaderAsync();
            var rows = 0;
            while (await reader.ReadAsync())
            {
                text.Append(table).Append(": ").AppendLine(reader.GetString(0));
                rows++;
            }
            rows.ShouldBeGreaterThan(0, table);
        }
        return text.ToString();
    }

    private async Task<long> Count(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>The four fund reports, now and as of instants within the history, as the API answers them.</summary>
    private async Task<string[]> Reports(string statementId)
    {
        var auditor = App.Client("audrey", Roles.Auditor);
        var urls = new List<string> { $"/api/reports/reconciliation?statementId={statementId}", "/api/reports/payout-register", "/api/reports/payout-register?asOf=2011-04-11T08:00:01Z" };
        foreach (var fund in new[] { TestFund, DemoFund })
        foreach (var asOf in new[] { "", "&asOf=2011-04-11T08:00:00.002000001Z", "&asOf=2011-04-12T00:00:00Z" })
        {
            urls.Add($"/api/reports/fund-statement?fundId={fund}&from=2011-01-01&to=2030-12-31{asOf}");
            urls.Add($"/api/reports/trial-balance?fundId={fund}{asOf}");
            urls.Add($"/api/reports/payout-register?fundId={fund}{asOf}");
        }
        return await Task.WhenAll(urls.Select(async url =>
        {
            var response = await auditor.GetAsync(url);
            await response.ShouldBe(200);
            return url + " " + await response.Content.ReadAsStringAsync();
        }));
    }

    [Fact]
    public async Task the_set_based_rebuild_gives_the_tables_the_projection_wrote_and_the_daemon_rebuild_gives_to_the_byte_and_the_same_reports()
    {
        var statementId = await TwoFunds();
        var written = await Tables();
        var reports = await Reports(statementId);
        (await Count($"select count(*) from {LedgerSetup.Schema}.{FundReportProjection.PayoutsTable} where reissue_of is not null")).ShouldBeGreaterThan(0);
        (await Count($"select count(*) from {LedgerSetup.Schema}.{FundReportProjection.StatementLinesTable}")).ShouldBeGreaterThan(3);

        var result = await FundReportsRebuild.RunAsync(App.Store, null, CancellationToken.None);
        result.Payouts.ShouldBeGreaterThan(3);
        (await Tables()).ShouldBe(written);
        (await Reports(statementId)).ShouldBe(reports);
        // The swapped-in tables are the ones Marten's schema check at start expects (names, columns, keys, indexes), and the shadow schema is gone.
        await App.Store.Storage.Database.AssertDatabaseMatchesConfigurationAsync(CancellationToken.None);
        (await Count($"select count(*) from pg_namespace where nspname = '{LedgerSetup.Schema}_rebuild_fund'")).ShouldBe(0);

        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
            await daemon.RebuildProjectionAsync(FundReportProjection.ProjectionName, TimeSpan.FromMinutes(1), CancellationToken.None);
        (await Tables()).ShouldBe(written);
    }

    private Task Deposit(Guid fundId, Instant at, decimal amount, string reference) =>
        FundReportTablesTests.Decide(App, at, (f, now) => DepositToPoolEndpoint.Decide(f, f.GeneralPool!.Id, new DepositToPool(Money.Of(amount, "USD"), reference, new LocalDate(2011, 4, 20)), "fiona", now), fundId);

    private async Task WaitForAWriterBlockedOnTheReportTables()
    {
        var tables = string.Join(", ", FundReportProjection.Tables.Select(t => $"'{LedgerSetup.Schema}.{t}'::regclass"));
        for (var tries = 0; tries < 200; tries++)
        {
            if (await Count($"select count(*) from pg_locks where not granted and relation in ({tables})") > 0) return;
            await Task.Delay(50);
        }
        throw new TimeoutException("No writer came to wait for the locked report tables.");
    }

    [Fact]
    public async Task a_rebuild_while_the_funds_record_money_counts_every_event_once_and_swaps_in_what_a_quiet_rebuild_gives()
    {
        var statementId = await TwoFunds();
        var t = LedgerApp.Start + Duration.FromDays(3);
        NpgsqlConnection? heldConnection = null;
        NpgsqlTransaction? held = null;
        Task? blocked = null;
        await using var closeHeld = new AsyncDisposer(async () => { if (heldConnection is not null) await heldConnection.DisposeAsync(); });

        var result = await FundReportsRebuild.RunWithPhasesAsync(App.Store, async phase =>
        {
            switch (phase)
            {
                case FundReportsRebuild.Phase.TablesCreated:
                    // A deposit takes its sequence number and stays uncommitted past the first pass while later events commit.
                    heldConnection = (NpgsqlConnection)App.Store.Storage.Database.CreateConnection();
                    await heldConnection.OpenAsync();
                    held = await heldConnection.BeginTransactionAsync();
                    await using (var session = App.Store.LightweightSession(Marten.Services.SessionOptions.ForTransaction(held)))
                    {
                        var stream = await session.Events.FetchForWriting<Fund>(DemoFund);
                        stream.AppendMany(DepositToPoolEndpoint.Decide(stream.Aggregate!, stream.Aggregate!.GeneralPool!.Id,
                            new DepositToPool(Money.Of(77m, "USD"), "HELD-1", new LocalDate(2011, 4, 14)), "fiona", t).Events);
                        await session.SaveChangesAsync();
                    }
                    await Deposit(TestFund, t, 10m, "DURING-1");
                    break;
                case FundReportsRebuild.Phase.FirstPassDone:
                    await held!.CommitAsync();
                    await Deposit(TestFund, t + Duration.FromMinutes(1), 11m, "DURING-2");
                    break;
                case FundReportsRebuild.Phase.RowsWritten:
                    // After the rows were copied: a settlement moves a copied payout row, and a deposit stamped earlier than rows
                    // already copied moves their running totals; both are written again before the swap.
                    await FundReportTablesTests.Decide(App, t + Duration.FromMinutes(2), (f, now) =>
                        SettlePayoutEndpoint.Decide(f, f.Payouts.Values.First(p => p.Status == PayoutStatus.InTransit).Id, new RecordPayoutSettlement("BANK-LATE"), "frank", now), TestFund);
                    await Deposit(TestFund, LedgerApp.Start + Duration.FromMinutes(30), 12m, "SET-BACK-1");
                    break;
                case FundReportsRebuild.Phase.LiveTablesLocked:
                    // A deposit arriving during the swap waits for it, then posts onto the rebuilt rows (stamped earlier than some of them).
                    blocked = Deposit(TestFund, LedgerApp.Start + Duration.FromHours(2), 13m, "BLOCKED-1");
                    await WaitForAWriterBlockedOnTheReportTables();
                    break;
            }
        }, CancellationToken.None);
        await blocked!;

        result.LateEvents.ShouldBe(1);
        var raced = await Tables();
        // Every report of both funds answers what the replay of its events answers (the definitions), now; every deposit posted once.
        var deposits = 0;
        await using (var session = App.Store.QuerySession())
            foreach (var fundId in new[] { TestFund, DemoFund })
            {
                var events = (await session.Events.FetchStreamAsync(fundId)).Select(e => e.Data).ToList();
                deposits += events.OfType<PoolDeposited>().Count();
                var fund = Fund.Replay(events);
                Same(await TrialBalance.LoadAsync(session, fundId, null, CancellationToken.None), TrialBalance.FromEvents(fund, events, null));
                Same(await FundStatement.LoadAsync(session, fundId, new LocalDate(2011, 1, 1), new LocalDate(2030, 12, 31), null, CancellationToken.None),
                    FundStatement.FromEvents(fund, events, new LocalDate(2011, 1, 1), new LocalDate(2030, 12, 31), null));
                Same(await PayoutRegister.LoadAsync(session, fundId, null, null, null, CancellationToken.None), PayoutRegister.FromFunds([fund], null, null, null));
            }
        (await Count($"select count(*) from {LedgerSetup.Schema}.{FundReportProjection.PostingsTable} where account = '{Books.Contributions}'")).ShouldBe(deposits);

        // The same rows, to the byte, as a rebuild with nothing going on, and as the daemon's replay through the projection.
        var reports = await Reports(statementId);
        await FundReportsRebuild.RunAsync(App.Store, null, CancellationToken.None);
        (await Tables()).ShouldBe(raced);
        (await Reports(statementId)).ShouldBe(reports);
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
            await daemon.RebuildProjectionAsync(FundReportProjection.ProjectionName, TimeSpan.FromMinutes(1), CancellationToken.None);
        (await Tables()).ShouldBe(raced);
    }

    [Fact]
    public async Task a_rebuild_cancelled_before_the_swap_leaves_the_live_tables_as_they_were_and_one_runs_at_a_time()
    {
        await TwoFunds();
        var before = await Tables();

        using var cancel = new CancellationTokenSource();
        await Should.ThrowAsync<OperationCanceledException>(() => FundReportsRebuild.RunWithPhasesAsync(App.Store, async phase =>
        {
            if (phase == FundReportsRebuild.Phase.TablesCreated)
                (await Should.ThrowAsync<InvalidOperationException>(() => FundReportsRebuild.RunAsync(App.Store, null, CancellationToken.None))).Message.ShouldContain("Another rebuild");
            if (phase == FundReportsRebuild.Phase.RowsWritten) await cancel.CancelAsync();
        }, cancel.Token));

        (await Tables()).ShouldBe(before);
        (await Count($"select count(*) from pg_namespace where nspname = '{LedgerSetup.Schema}_rebuild_fund'")).ShouldBe(0);
        // Nothing is left holding the rebuild: the next one runs, and the paid-vs-lost rebuild runs beside it (schemas and locks of their own).
        await Task.WhenAll(
            FundReportsRebuild.RunAsync(App.Store, null, CancellationToken.None),
            ClaimTotalsRebuild.RunAsync(App.Store, null, CancellationToken.None));
        (await Tables()).ShouldBe(before);
    }

    private static void Same<T>(T? fromTables, T fromEvents)
    {
        var options = new System.Text.Json.JsonSerializerOptions();
        LedgerSetup.ConfigureApiJson(options);
        System.Text.Json.JsonSerializer.Serialize(fromTables, options).ShouldBe(System.Text.Json.JsonSerializer.Serialize(fromEvents, options));
    }
}
