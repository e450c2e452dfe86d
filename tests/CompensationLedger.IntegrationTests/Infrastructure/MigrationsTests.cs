using CompensationLedger.Infrastructure;
using JasperFx;
using Marten;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NodaTime;
using NodaTime.Testing;
using Npgsql;
using Weasel.Core.Migrations;

namespace CompensationLedger.IntegrationTests.Infrastructure;

/// <summary>
/// The schema comes from migrations/*.sql alone: a fresh database built from them must match what
/// Marten and Wolverine expect, so a model change without its migration fails here.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class MigrationsTests(LedgerApp app)
{
    private static readonly Instant Now = Instant.FromUtc(2026, 11, 25, 12, 0);

    /// <summary>The scripts the test project copies from the repository's migrations/ folder.</summary>
    private static IReadOnlyList<MigrationScript> Scripts() =>
        LedgerMigrator.Load(Path.Combine(AppContext.BaseDirectory, LedgerMigrator.FolderName));

    [Fact]
    public async Task A_database_built_from_the_migrations_alone_matches_the_Marten_and_Wolverine_model()
    {
        var scripts = Scripts();
        scripts.ShouldNotBeEmpty();
        var connectionString = await app.Server.CreateDatabaseAsync("ledger_migrations");

        var run = await new LedgerMigrator(connectionString, new FakeClock(Now)).ApplyAsync(scripts);
        run.Applied.ShouldBe(scripts.Select(s => s.Name));

        await using var host = ProductionHost(connectionString);
        ((StoreOptions)host.Services.GetRequiredService<IDocumentStore>().Options).AutoCreateSchemaObjects.ShouldBe(AutoCreate.None);
        var differences = await Differences(host);
        differences.ShouldBeEmpty(
            "The model differs from a database built from migrations/*.sql: run migrations/new-migration.sh NAME, review and commit the script.\n"
            + string.Join("\n", differences));
    }

    [Fact]
    public async Task The_check_fails_for_a_document_type_that_has_no_migration()
    {
        var connectionString = await app.Server.CreateDatabaseAsync("ledger_migrations");
        await new LedgerMigrator(connectionString, new FakeClock(Now)).ApplyAsync(Scripts());

        await using var host = ProductionHost(connectionString, services => services.ConfigureMarten(o => o.Schema.For<UnmigratedDocument>()));

        var differences = await Differences(host);
        differences.ShouldHaveSingleItem().ShouldContain("marten://store/");
        differences[0].ShouldContain("mt_doc_migrationstests_unmigrateddocument");
    }

    [Fact]
    public async Task Migrate_applies_each_script_once_and_records_it_in_the_journal()
    {
        var scripts = Scripts();
        var connectionString = await app.Server.CreateDatabaseAsync("ledger_migrations");
        var migrator = new LedgerMigrator(connectionString, new FakeClock(Now));

        (await migrator.ApplyAsync(scripts)).Applied.Count.ShouldBe(scripts.Count);
        var again = await migrator.ApplyAsync(scripts);
        again.Applied.ShouldBeEmpty();
        again.AlreadyApplied.ShouldBe(scripts.Select(s => s.Name));

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var read = new NpgsqlCommand(
            $"select script, checksum, applied_at from {LedgerMigrator.JournalSchema}.{LedgerMigrator.JournalTable} order by script", connection);
        await using var reader = await read.ExecuteReaderAsync();
        var journal = new List<(string Script, string Checksum, DateTimeOffset At)>();
        while (await reader.ReadAsync()) journal.Add((reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2)));
        journal.Select(j => j.Script).ShouldBe(scripts.Select(s => s.Name));
        journal.Select(j => j.Checksum).ShouldBe(scripts.Select(s => s.Checksum));
        journal.ShouldAllBe(j => j.At == Now.ToDateTimeOffset());
    }

    [Fact]
    public async Task Migrate_refuses_a_script_that_was_changed_after_it_was_applied_and_rolls_back_a_failing_one()
    {
        var scripts = Scripts();
        var connectionString = await app.Server.CreateDatabaseAsync("ledger_migrations");
        var migrator = new LedgerMigrator(connectionString, new FakeClock(Now));
        await migrator.ApplyAsync(scripts);

        var edited = scripts.Select((s, i) => i == 0 ? s with { Sql = s.Sql + "\n-- edited" } : s).ToList();
        (await Should.ThrowAsync<InvalidOperationException>(() => migrator.ApplyAsync(edited))).Message.ShouldContain("changed after it was applied");

        var broken = new MigrationScript(scripts[^1].Number + 1, $"{scripts[^1].Number + 1:0000}_broken.sql",
            "create table ledger.half_done (id int); select no_such_function();");
        (await Should.ThrowAsync<InvalidOperationException>(() => migrator.ApplyAsync([.. scripts, broken]))).Message.ShouldContain("rolled back");

        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var check = new NpgsqlCommand(
            $"select (select count(*) from {LedgerMigrator.JournalSchema}.{LedgerMigrator.JournalTable}), to_regclass('ledger.half_done') is null", connection);
        await using var reader = await check.ExecuteReaderAsync();
        await reader.ReadAsync();
        reader.GetInt64(0).ShouldBe(scripts.Count);
        reader.GetBoolean(1).ShouldBeTrue("the failing script's table must have been rolled back");
    }

    [Fact]
    public async Task Baseline_records_scripts_for_a_database_that_already_has_the_schema_without_running_them()
    {
        var scripts = Scripts();
        var connectionString = await app.Server.CreateDatabaseAsync("ledger_migrations");
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            // A database built before it had a journal (by db-apply, say).
            await connection.OpenAsync();
            foreach (var script in scripts)
            {
                await using var command = new NpgsqlCommand(script.Sql, connection);
                await command.ExecuteNonQueryAsync();
            }
        }
        var migrator = new LedgerMigrator(connectionString, new FakeClock(Now));

        (await Should.ThrowAsync<InvalidOperationException>(() => migrator.ApplyAsync(scripts))).Message.ShouldContain("--baseline");
        var baselined = await migrator.ApplyAsync(scripts, baselineThrough: scripts[^1].Number);
        baselined.Applied.ShouldBeEmpty();
        baselined.AlreadyApplied.ShouldBe(scripts.Select(s => s.Name));
        (await migrator.ApplyAsync(scripts)).Applied.ShouldBeEmpty();
    }

    [Fact]
    public async Task The_rollup_migration_gives_existing_change_rows_a_position_the_first_advance_absorbs()
    {
        var (scripts, rollup, connectionString, migrator) = await DatabaseJustBefore("0010_claim_totals_rollup.sql", "ledger_migrations_rollup");

        // A database at 0009 with change rows: two claims filed, one of them approved (its change row moves it between statuses).
        var schema = LedgerSetup.Schema;
        var changes = $"{schema}.{CompensationLedger.Reports.ClaimTotalsProjection.ChangesTable}";
        var statuses = string.Join(", ", Enum.GetValues<CompensationLedger.Claims.ClaimStatus>().Select(CompensationLedger.Reports.ClaimTotalsProjection.StatusColumn));
        string Row(string claim, int claims, decimal claimed, decimal entitled, int filed, int approved) =>
            $"('{claim}', gen_random_uuid(), 1, '{Case}', 'Alibaba.com', 'cnxinda', 'US', '2011-01', 'USD', 'USD', {claims}, {claimed}, 0, 0, 0, 0, 0, {entitled}, 0, 0, "
            + string.Join(", ", Enum.GetValues<CompensationLedger.Claims.ClaimStatus>().Select(st => st switch
            {
                CompensationLedger.Claims.ClaimStatus.Filed => filed,
                CompensationLedger.Claims.ClaimStatus.Approved => approved,
                _ => 0,
            })) + ")";
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using var insert = new NpgsqlCommand(
                $"""
                 insert into {changes} (claim_id, event_id, at_ns, case_id, platform, supplier_account, buyer_country, payment_month, fund_currency, paid_currency,
                     claims, claimed, verified, unconverted_claims, unconverted, verified_unconverted_claims, verified_unconverted, entitled, paid, returned, {statuses})
                 values {Row(ClaimA, 1, 1400.00m, 0m, 1, 0)}, {Row(ClaimB, 1, 250.50m, 0m, 1, 0)}, {Row(ClaimA, 0, 0m, 980.00m, -1, 1)}
                 """, connection);
            await insert.ExecuteNonQueryAsync();
        }

        (await migrator.ApplyAsync([.. scripts.Where(s => s.Number <= rollup.Number)])).Applied.ShouldBe([rollup.Name]);
        await migrator.ApplyAsync(scripts); // the later ones (the daily rollup: empty, as nothing is absorbed yet), for today's advance

        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            async Task<string> Text(string sql)
            {
                await using var command = new NpgsqlCommand(sql, connection);
                return (string)(await command.ExecuteScalarAsync())!;
            }
            // Every existing row got the migration's transaction id, above the horizon of a checkpoint that has no row yet.
            (await Text($"select count(distinct xid)::text from {changes}")).ShouldBe("1");
            (await Text($"select {CompensationLedger.Reports.ClaimTotalsRollup.Horizon(schema)}::text")).ShouldBe("0");

            await using (var tx = await connection.BeginTransactionAsync())
            {
                var advance = await CompensationLedger.Reports.ClaimTotalsRollup.AdvanceAsync(connection, tx, schema, CancellationToken.None);
                advance.RollupRows.ShouldBe(12); // one per grouping, in the rollup, the monthly and the daily rollup: all rows share their keys and day
                await tx.CommitAsync();
            }
            (await Text($"select count(*)::text from {changes} where xid >= {CompensationLedger.Reports.ClaimTotalsRollup.Horizon(schema)}")).ShouldBe("0");
            (await Text($"select string_agg(grouping || ' ' || key || ' ' || claims || ' ' || claimed || ' ' || entitled || ' ' || n_filed || ' ' || n_approved, '; ' order by grouping) from {schema}.{CompensationLedger.Reports.ClaimTotalsRollup.RollupTable}"))
                .ShouldBe("country US 2 1650.50 980.00 1 1; month 2011-01 2 1650.50 980.00 1 1; platform Alibaba.com 2 1650.50 980.00 1 1; supplier Alibaba.com/cnxinda 2 1650.50 980.00 1 1");
        }
    }

    [Fact]
    public async Task The_daily_rollup_migration_sums_the_absorbed_change_rows_per_day_and_leaves_the_tail_to_the_next_advance()
    {
        var (scripts, daily, connectionString, migrator) = await DatabaseJustBefore("0011_claim_totals_rollup_daily.sql", "ledger_migrations_daily");

        // A database at 0010: change rows on two days absorbed (below the checkpoint's horizon), one more in the tail.
        var schema = LedgerSetup.Schema;
        var changes = $"{schema}.{CompensationLedger.Reports.ClaimTotalsProjection.ChangesTable}";
        var statuses = string.Join(", ", Enum.GetValues<CompensationLedger.Claims.ClaimStatus>().Select(CompensationLedger.Reports.ClaimTotalsProjection.StatusColumn));
        long Ns(int day, int hour) => CompensationLedger.Reports.ReportTime.Ns(Instant.FromUtc(2011, 4, day, hour, 0));
        string Row(string claim, long atNs, decimal claimed) =>
            $"('{claim}', gen_random_uuid(), {atNs}, '{Case}', 'Alibaba.com', 'cnxinda', 'US', '2011-04', 'USD', 'USD', 1, {claimed}, 0, 0, 0, 0, 0, 0, 0, 0, "
            + string.Join(", ", Enum.GetValues<CompensationLedger.Claims.ClaimStatus>().Select(st => st == CompensationLedger.Claims.ClaimStatus.Filed ? 1 : 0)) + ")";
        var columns = $"claim_id, event_id, at_ns, case_id, platform, supplier_account, buyer_country, payment_month, fund_currency, paid_currency, "
            + $"claims, claimed, verified, unconverted_claims, unconverted, verified_unconverted_claims, verified_unconverted, entitled, paid, returned, {statuses}";
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        async Task<string> Text(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            return (string)(await command.ExecuteScalarAsync())!;
        }
        async Task Execute(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
        await Execute($"insert into {changes} ({columns}) values {Row(ClaimA, Ns(11, 8), 1400.00m)}, {Row(ClaimB, Ns(11, 23), 250.50m)}, {Row(ClaimA, Ns(12, 0), 0m)}");
        await Execute($"insert into {changes} ({columns}) values {Row("0195a2c0-2011-7000-8000-0000000000a3", Ns(12, 9), 99.99m)}");
        // The horizon at the second transaction: the first one's rows are absorbed, the second's are the tail.
        await Execute($"insert into {schema}.{CompensationLedger.Reports.ClaimTotalsRollup.CheckpointTable} (id, horizon) "
            + $"select 1, max(xid) from {changes}");

        (await migrator.ApplyAsync([.. scripts.Where(s => s.Number <= daily.Number)])).Applied.ShouldBe([daily.Name]);

        string Days() => $"select string_agg(grouping || ' ' || key || ' ' || to_char(to_timestamp(day_ns / 1000000000), 'YYYY-MM-DD') || ' ' || claims || ' ' || claimed, '; ' "
            + $"order by grouping, day_ns) from {schema}.{CompensationLedger.Reports.ClaimTotalsRollup.DailyTable} where grouping in ('platform', 'supplier')";
        (await Text(Days())).ShouldBe(
            "platform Alibaba.com 2011-04-11 2 1650.50; platform Alibaba.com 2011-04-12 1 0; supplier Alibaba.com/cnxinda 2011-04-11 2 1650.50; supplier Alibaba.com/cnxinda 2011-04-12 1 0");
        (await Text($"select count(distinct grouping)::text from {schema}.{CompensationLedger.Reports.ClaimTotalsRollup.DailyTable}")).ShouldBe("4");

        // The next advance absorbs the tail into the daily sums too.
        await using (var tx = await connection.BeginTransactionAsync())
        {
            await CompensationLedger.Reports.ClaimTotalsRollup.AdvanceAsync(connection, tx, schema, CancellationToken.None);
            await tx.CommitAsync();
        }
        (await Text(Days())).ShouldBe(
            "platform Alibaba.com 2011-04-11 2 1650.50; platform Alibaba.com 2011-04-12 2 99.99; supplier Alibaba.com/cnxinda 2011-04-11 2 1650.50; supplier Alibaba.com/cnxinda 2011-04-12 2 99.99");
    }

    [Fact]
    public async Task The_payout_index_migration_deletes_the_payout_entries_and_keeps_the_rounds()
    {
        var (scripts, cleanup, connectionString, migrator) = await DatabaseJustBefore("0012_drop_payout_index_entries.sql", "ledger_migrations_fund_index");

        // Entries as the service wrote them before (the store's own serializer): one round, two payouts.
        var serializer = ((StoreOptions)app.Store.Options).Serializer();
        var fundId = Guid.Parse("0195a2c0-2011-7000-8000-00000000f0d1");
        var round = new CompensationLedger.Funds.FundIndexEntry(Guid.Parse("0195a2c0-2011-7000-8000-0000000000c1"), fundId, CompensationLedger.Funds.FundIndexKind.Round);
        CompensationLedger.Funds.FundIndexEntry[] payouts =
        [
            new(Guid.Parse("0195a2c0-2011-7000-8000-0000000000d1"), fundId, CompensationLedger.Funds.FundIndexKind.Payout),
            new(Guid.Parse("0195a2c0-2011-7000-8000-0000000000d2"), fundId, CompensationLedger.Funds.FundIndexKind.Payout),
        ];
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        foreach (var entry in payouts.Prepend(round))
        {
            await using var insert = new NpgsqlCommand(
                $"insert into {LedgerSetup.Schema}.mt_doc_fundindexentry (id, data, mt_dotnet_type) values (@id, @data::jsonb, @type)", connection);
            insert.Parameters.AddWithValue("id", entry.Id);
            insert.Parameters.AddWithValue("data", serializer.ToJson(entry));
            insert.Parameters.AddWithValue("type", typeof(CompensationLedger.Funds.FundIndexEntry).FullName!);
            await insert.ExecuteNonQueryAsync();
        }

        (await migrator.ApplyAsync([.. scripts.Where(s => s.Number <= cleanup.Number)])).Applied.ShouldBe([cleanup.Name]);

        await using var read = new NpgsqlCommand($"select string_agg(id::text, ' ') from {LedgerSetup.Schema}.mt_doc_fundindexentry", connection);
        (await read.ExecuteScalarAsync()).ShouldBe(round.Id.ToString());
    }

    /// <summary>A new database with every migration before <paramref name="scriptName"/> applied: the state that script meets.</summary>
    private async Task<(IReadOnlyList<MigrationScript> Scripts, MigrationScript Script, string ConnectionString, LedgerMigrator Migrator)> DatabaseJustBefore(
        string scriptName, string database)
    {
        var scripts = Scripts();
        var script = scripts.Single(s => s.Name == scriptName);
        var connectionString = await app.Server.CreateDatabaseAsync(database);
        var migrator = new LedgerMigrator(connectionString, new FakeClock(Now));
        await migrator.ApplyAsync([.. scripts.Where(s => s.Number < script.Number)]);
        return (scripts, script, connectionString, migrator);
    }

    private static readonly Guid Case = Guid.Parse("0195a2c0-2011-7000-8000-00000000ca5e");
    private static readonly string ClaimA = "0195a2c0-2011-7000-8000-0000000000a1";
    private static readonly string ClaimB = "0195a2c0-2011-7000-8000-0000000000a2";

    [Fact]
    public void Migration_files_are_numbered_and_the_numbers_are_unique()
    {
        var folder = Directory.CreateTempSubdirectory("ledger-migrations-");
        try
        {
            File.WriteAllText(Path.Combine(folder.FullName, "0001_a.sql"), "select 1;");
            File.WriteAllText(Path.Combine(folder.FullName, "0001_b.sql"), "select 1;");
            Should.Throw<InvalidOperationException>(() => LedgerMigrator.Load(folder.FullName)).Message.ShouldContain("share the number 0001");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    /// <summary>The service as Production runs it (AutoCreate.None), built but not started, against <paramref name="connectionString"/>.</summary>
    private static WebApplication ProductionHost(string connectionString, Action<IServiceCollection>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            EnvironmentName = Environments.Production,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Ledger"] = connectionString,
            ["Auth:SigningKey"] = LedgerApp.SigningKey,
        });
        builder.AddLedger();
        configure?.Invoke(builder.Services);
        return builder.Build();
    }

    /// <summary>
    /// What db-assert does, for every schema target it would find (Marten's store and Wolverine's message
    /// storage): one line per target whose database differs, with the DDL that would fix it.
    /// </summary>
    private static async Task<List<string>> Differences(IHost host)
    {
        var databases = host.Services.GetServices<IDatabase>().ToList();
        foreach (var source in host.Services.GetServices<IDatabaseSource>()) databases.AddRange(await source.BuildDatabases());

        databases.Select(d => d.Describe().SubjectUri.ToString())
            .ShouldBe(["marten://store/", "wolverine://messages/main"], ignoreOrder: true, "both schema targets are checked");

        var differences = new List<string>();
        foreach (var database in databases)
        {
            try
            {
                await database.AssertDatabaseMatchesConfigurationAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is not ShouldAssertException)
            {
                differences.Add($"{database.Describe().SubjectUri}: {e.Message}");
            }
        }
        return differences;
    }

    public sealed class UnmigratedDocument
    {
        public Guid Id { get; set; }
    }
}
