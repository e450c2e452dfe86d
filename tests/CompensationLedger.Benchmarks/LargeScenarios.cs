using System.Data;
using System.Diagnostics;
using System.Globalization;
using Alba;
using CompensationLedger.Infrastructure;
using CompensationLedger.Reports;
using CompensationLedger.IntegrationTests.Browser;
using JasperFx.CommandLine;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace CompensationLedger.Benchmarks;

/// <summary>
/// Scenarios 5 and 6 on a ledger of about <c>targetEvents</c> events (<see cref="LargeLedger"/>), in a database of
/// their own on the same PostgreSQL. The events are written by the service's own store configuration, hosted in
/// this process (as the integration tests host it); scenario 5 then rebuilds every registered projection with
/// Marten's projection daemon, the mechanism of RebuildAllProjectionsTests and of the service's
/// <c>projections rebuild</c> command; its baseline streams every event's JSON once in sequence order with raw
/// Npgsql (<c>select type, data from mt_events order by seq_id</c>), the least any rebuild must read.
/// Scenario 6 starts the service as a process on that database and times the reports one request at a time.
/// </summary>
public sealed class LargeScenarios(LocalPostgresCluster cluster, List<Measurement> results, List<string> notes, Dictionary<string, double> peakRss, Action<string> log)
{
    public sealed record Budgets(TimeSpan Generation, TimeSpan Rebuild, int ReportSamples, TimeSpan PerReport);

    public async Task RunAsync(long targetEvents, LargeLedger.Shape shape, Budgets budgets, string key, string issuer)
    {
        await cluster.EnsureDatabaseAsync("ledger_large");
        var db = cluster.ConnectionString("ledger_large");

        LargeLedger.Generated data;
        long stored;
        await using (var host = await InProcessService(db, key, issuer))
        {
            log($"bench: generating a ledger of ~{targetEvents:N0} events with Marten (in process, at most {budgets.Generation.TotalSeconds:0} s)");
            data = await LargeLedger.GenerateAsync(host.Services.GetRequiredService<IDocumentStore>(), targetEvents, budgets.Generation, shape, log);
            stored = await Scalar<long>(db, $"select count(*) from {LedgerSetup.Schema}.mt_events");
            var mix = await EventMix(db);
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"Large ledger: {stored:N0} events{(stored < targetEvents ? $" (the generation budget of {budgets.Generation.TotalSeconds:0} s ran out before the target of {targetEvents:N0})" : "")}: {data.Claims:N0} claims over {data.CaseIds.Count} cases, {data.FundIds.Count} funds, one writer per fund; written with Marten with inline projections in {data.Took.TotalSeconds:0} s ({stored / data.Took.TotalSeconds:N0} events/s). Event mix: {mix}."));
            log($"bench: generated {stored:N0} events in {data.Took.TotalSeconds:0} s");
        }

        // 6. Reports at this size, from the service as deployed (a process), one request at a time.
        await using (var service = await RunningService.StartAsync(db, key, issuer, new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Warning" }))
        {
            await Reports(service, db, data, budgets, key, issuer);
            peakRss["service on the large ledger (reports)"] = Rss.PeakMegabytes(service.ProcessId);
        }

        // 5. Rebuild every projection, as RebuildAllProjectionsTests does (the service stopped); check the read models come back the same size.
        await using (var host = await InProcessService(db, key, issuer))
        {
            var store = host.Services.GetRequiredService<IDocumentStore>();
            var before = await ReadModelCounts(db);
            var names = ((StoreOptions)store.Options).Projections.AllProjectionNames().Select(n => n.Trim('\'')).ToArray();
            using var daemon = await store.BuildProjectionDaemonAsync();
            // Each projection has its own share of what is left of the limit (the quick ones leave theirs to the next),
            // so one that cannot finish does not hide how the others do.
            var all = Stopwatch.StartNew();
            var left = names.Length;
            var each = new List<string>();
            var unfinished = new List<string>();
            foreach (var name in names)
            {
                var shortName = name.Split('.')[^1];
                var share = (budgets.Rebuild - all.Elapsed) / left--;
                var one = Stopwatch.StartNew();
                using var limit = new CancellationTokenSource(share);
                try
                {
                    await daemon.RebuildProjectionAsync(name, share, limit.Token);
                    each.Add(string.Create(CultureInfo.InvariantCulture, $"{shortName} {one.Elapsed.TotalSeconds:0.0} s"));
                }
                catch (Exception e) when (limit.IsCancellationRequested || e is TimeoutException)
                {
                    each.Add(string.Create(CultureInfo.InvariantCulture, $"{shortName} NOT FINISHED in {share.TotalSeconds:0} s"));
                    unfinished.Add(shortName);
                }
                log($"bench: rebuild {name}: {each[^1]}");
            }
            if (unfinished.Count > 0)
            {
                all.Stop();
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"Rebuild of all {names.Length} projections over {stored:N0} events did NOT finish: {string.Join(", ", unfinished)} hit its share of the {budgets.Rebuild.TotalSeconds:0} s limit ({string.Join(", ", each)}). So at most {stored / all.Elapsed.TotalSeconds:N0} events/s; target >= 30,000 events/s MISSED. The read models were left part-rebuilt (this database is thrown away)."));
                results.Add(new Measurement("rebuild all projections (events)", "service (Marten daemon rebuild, stopped at limit)", 1, (int)stored, all.Elapsed.TotalSeconds,
                    all.Elapsed.TotalMilliseconds, all.Elapsed.TotalMilliseconds, all.Elapsed.TotalMilliseconds));
                await BaselineScan(db);
                return;
            }
            all.Stop();
            var after = await ReadModelCounts(db);
            if (before != after) throw new InvalidOperationException($"The rebuild changed the read models: before {before}, after {after}.");
            results.Add(new Measurement("rebuild all projections (events)", "service (Marten daemon rebuild)", 1, (int)stored, all.Elapsed.TotalSeconds,
                all.Elapsed.TotalMilliseconds, all.Elapsed.TotalMilliseconds, all.Elapsed.TotalMilliseconds));
            var rate = stored / all.Elapsed.TotalSeconds;
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"Rebuild of all {names.Length} projections over {stored:N0} events: {all.Elapsed.TotalSeconds:0.0} s, {rate:N0} events/s; target >= 30,000 events/s (at 1,000,000 events) {(rate >= 30_000 ? "MET" : "MISSED")} ({string.Join(", ", each)}); read models identical in row count before and after ({after})."));
        }
        await BaselineScan(db);
    }

    /// <summary>The baseline of scenario 5: every event's type and JSON, once, in sequence order, with raw Npgsql.</summary>
    private async Task BaselineScan(string db)
    {
        var scan = Stopwatch.StartNew();
        long rows = 0;
        await using (var connection = new NpgsqlConnection(db))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"select type, data from {LedgerSetup.Schema}.mt_events order by seq_id", connection);
            await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess);
            while (await reader.ReadAsync())
            {
                _ = reader.GetString(0);
                _ = reader.GetString(1);
                rows++;
            }
        }
        results.Add(new Measurement("rebuild all projections (events)", "baseline (raw SQL, one ordered scan)", 1, (int)rows, scan.Elapsed.TotalSeconds,
            scan.Elapsed.TotalMilliseconds, scan.Elapsed.TotalMilliseconds, scan.Elapsed.TotalMilliseconds));
    }

    /// <summary>The service hosted in this process (as the integration tests host it), for its store: same options, same schema.</summary>
    private static async Task<IAlbaHost> InProcessService(string db, string key, string issuer)
    {
        JasperFxEnvironment.AutoStartHost = true;
        // The service's content root is this build output (its appsettings.json is copied here), as for the service process.
        Environment.SetEnvironmentVariable("ASPNETCORE_TEST_CONTENTROOT_COMPENSATIONLEDGER", AppContext.BaseDirectory);
        return await AlbaHost.For<CompensationLedger.Funds.Fund>(builder =>
        {
            builder.UseEnvironment("Testing");
            builder.UseSetting("ConnectionStrings:Ledger", db);
            builder.UseSetting("Auth:SigningKey", key);
            builder.UseSetting("Auth:Issuer", issuer);
            builder.UseSetting("Ledger:SeedDemo", "false");
            builder.UseSetting("Logging:LogLevel:Default", "Warning");
        });
    }

    private async Task Reports(RunningService service, string db, LargeLedger.Generated data, Budgets budgets, string key, string issuer)
    {
        var auditor = new HttpClient { BaseAddress = service.BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
        auditor.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer",
            new AuthSettings { Issuer = issuer, SigningKey = key }.MintToken("audrey", [Roles.Auditor], NodaTime.SystemClock.Instance.GetCurrentInstant(), NodaTime.Duration.FromHours(4)));
        var caseId = data.CaseIds[0];
        var fundId = data.FundIds[0];
        // As of the middle of the ledger's history (business time): half the change rows count.
        var middleNs = await Scalar<long>(db, $"select coalesce(percentile_disc(0.5) within group (order by at_ns), 0) from {LedgerSetup.Schema}.{ClaimTotalsProjection.ChangesTable}");
        var middle = Uri.EscapeDataString(NodaTime.Text.InstantPattern.ExtendedIso.Format(ReportTime.FromNs(middleNs)));
        var claimRows = $"select t::text from {LedgerSetup.Schema}.{ClaimTotalsProjection.ClaimsTable} t";
        var changeRows = $"select t::text from {LedgerSetup.Schema}.{ClaimTotalsProjection.ChangesTable} t where t.at_ns <= @p0";
        var reports = new (string Name, string Url, Func<NpgsqlConnection, Task> Baseline)[]
        {
            ("report paid-vs-lost (one case)", $"/api/reports/paid-vs-lost?caseId={caseId}&groupBy=platform",
                c => Read(c, claimRows + " where t.case_id = @p0", caseId)),
            ("report paid-vs-lost (all claims)", "/api/reports/paid-vs-lost?groupBy=platform",
                c => Read(c, claimRows)),
            ("report paid-vs-lost as of mid-history (one case)", $"/api/reports/paid-vs-lost?caseId={caseId}&groupBy=platform&asOf={middle}",
                c => Read(c, changeRows + " and t.case_id = @p1", middleNs, caseId)),
            ("report paid-vs-lost as of mid-history (all claims)", $"/api/reports/paid-vs-lost?groupBy=platform&asOf={middle}",
                c => Read(c, changeRows, middleNs)),
            ("report fund statement", $"/api/reports/fund-statement?fundId={fundId}&from=2025-01-01&to=2026-12-31",
                c => Read(c, $"select type, data from {LedgerSetup.Schema}.mt_events where stream_id = @p0 and type = any(@p1) order by version",
                    fundId, new[] { "pool_deposited", "round_released", "payout_returned" })),
            ("report reconciliation", $"/api/reports/reconciliation?statementId={data.LastStatementId}",
                c => Read(c, $"select data from {LedgerSetup.Schema}.mt_events where type = 'bank_statement_imported' and data ->> 'statementId' = @p0", data.LastStatementId)),
        };
        await using var baselineConnection = new NpgsqlConnection(db);
        await baselineConnection.OpenAsync();
        foreach (var (name, url, baseline) in reports)
        {
            // One untimed request first: the service compiles each endpoint on its first call.
            using (var warm = await auditor.GetAsync(url))
                if (!warm.IsSuccessStatusCode) throw new InvalidOperationException($"{url}: {(int)warm.StatusCode} {await warm.Content.ReadAsStringAsync()}");
            var measured = await Measure.RunFor(name, "service (HTTP)", budgets.ReportSamples, budgets.PerReport, async _ =>
            {
                using var response = await auditor.GetAsync(url);
                if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{url}: {(int)response.StatusCode}");
                await response.Content.ReadAsByteArrayAsync();
            });
            results.Add(measured);
            results.Add(await Measure.RunFor(name, "baseline (raw SQL)", budgets.ReportSamples, budgets.PerReport / 3, _ => baseline(baselineConnection)));
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{name} at {data.Claims:N0} claims: p50 {measured.P50Ms:0} ms, p95 {measured.P95Ms:0} ms over {measured.Operations} requests; target p95 <= 100 ms {(measured.P95Ms <= 100 ? "MET" : "MISSED")}."));
            log($"bench: {name}: p95 {measured.P95Ms:0} ms");
        }
    }

    private static async Task Read(NpgsqlConnection connection, string sql, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        for (var i = 0; i < values.Length; i++) command.Parameters.AddWithValue($"p{i}", values[i]);
        await using var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess);
        while (await reader.ReadAsync())
            for (var c = 0; c < reader.FieldCount; c++) _ = reader.GetString(c);
    }

    private static async Task<T> Scalar<T>(string db, string sql)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<string> EventMix(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select type, count(*) from {LedgerSetup.Schema}.mt_events group by type order by 2 desc", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var parts = new List<string>();
        while (await reader.ReadAsync()) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{reader.GetString(0)} {reader.GetInt64(1):N0}"));
        return string.Join(", ", parts);
    }

    /// <summary>Rows per read-model table, so a rebuild that lost or duplicated documents shows.</summary>
    private static async Task<string> ReadModelCounts(string db)
    {
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        var parts = new List<string>();
        foreach (var table in new[] { "mt_doc_claim", ClaimTotalsProjection.ClaimsTable, ClaimTotalsProjection.ChangesTable, "mt_doc_fraudcase", "mt_doc_fund", "mt_doc_fundindexentry" })
        {
            await using var command = new NpgsqlCommand($"select count(*) from {LedgerSetup.Schema}.{table}", connection);
            var count = (long)(await command.ExecuteScalarAsync())!;
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{(table.StartsWith("mt_doc_", StringComparison.Ordinal) ? table[7..] : table)} {count:N0}"));
        }
        return string.Join(", ", parts);
    }
}

public static class Rss
{
    public static double PeakMegabytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? double.NaN : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }
}
