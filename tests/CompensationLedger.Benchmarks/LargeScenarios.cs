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
/// this process (as the integration tests host it); scenario 5 then rebuilds every registered projection as the service's
/// <c>rebuild</c> command and RebuildAllProjectionsTests do (<see cref="LedgerRebuild"/>: the paid-vs-lost tables folded
/// in memory beside the live ones and swapped in, every other projection by Marten's projection daemon); its baseline streams every event's JSON once in sequence order with raw
/// Npgsql (<c>select type, data from mt_events order by seq_id</c>), the least any rebuild must read, and its second baseline
/// writes the rebuilt tables' final rows again by COPY (<see cref="RebuiltRowsBaseline"/>), the least this design's rebuild must write.
/// Scenario 6 starts the service as a process on that database and times the reports one request at a time.
/// </summary>
public sealed class LargeScenarios(LocalPostgresCluster cluster, List<Measurement> results, List<string> notes, Dictionary<string, double> peakRss, Action<string> log)
{
    public sealed record Budgets(TimeSpan Generation, TimeSpan Rebuild, int ReportSamples, TimeSpan PerReport);

    /// <summary>Projections rebuilt at once in scenario 5.</summary>
    public const int RebuildConcurrency = LedgerRebuild.Concurrency;

    public async Task RunAsync(long targetEvents, LargeLedger.Shape shape, Budgets budgets, string key, string issuer)
    {
        await cluster.EnsureDatabaseAsync("ledger_large");
        var db = cluster.ConnectionString("ledger_large");

        LargeLedger.Generated data;
        long stored;
        await using (var host = await InProcessService(db, key, issuer))
        {
            log($"bench: generating a ledger of ~{targetEvents:N0} events with Marten's bulk event import (in process, at most {budgets.Generation.TotalSeconds:0} s)");
            data = await LargeLedger.GenerateAsync(host.Services.GetRequiredService<IDocumentStore>(), targetEvents, budgets.Generation, shape, log);
            stored = await Scalar<long>(db, $"select count(*) from {LedgerSetup.Schema}.mt_events");
            var mix = await EventMix(db);
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"Large ledger: {stored:N0} events{(stored < targetEvents ? $" (the generation budget of {budgets.Generation.TotalSeconds:0} s ran out before the target of {targetEvents:N0})" : "")}: {data.Claims:N0} claims over {data.CaseIds.Count} cases, {data.FundIds.Count} funds, one writer per fund; appended with Marten's bulk event import (COPY, no inline projections: scenario 5 builds the read models) in {data.Took.TotalSeconds:0} s ({stored / data.Took.TotalSeconds:N0} events/s). Event mix: {mix}."));
            log($"bench: generated {stored:N0} events in {data.Took.TotalSeconds:0} s");
        }

        // 5. Rebuild every projection (the service stopped), as RebuildAllProjectionsTests does: this builds the read models
        // of the imported events, which scenario 6 then reads.
        if (!await Rebuild(db, stored, budgets, key, issuer, data)) return;
        await BaselineScan(db);
        await RebuiltRowsBaseline(db, stored);

        // 6. Reports at this size, from the service as deployed (a process), one request at a time.
        await using (var service = await RunningService.StartAsync(db, key, issuer, new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Warning" }))
        {
            // The peak after each stage, so a missed memory target says which stage reached it.
            var peaks = new List<string> { string.Create(CultureInfo.InvariantCulture, $"started {Rss.PeakMegabytes(service.ProcessId):0} MB") };
            await Reports(service, db, data, budgets, key, issuer);
            peaks.Add(string.Create(CultureInfo.InvariantCulture, $"after the reports {Rss.PeakMegabytes(service.ProcessId):0} MB"));
            await Views(service, db, data, budgets, key, issuer);
            peaks.Add(string.Create(CultureInfo.InvariantCulture, $"after the views {Rss.PeakMegabytes(service.ProcessId):0} MB"));
            await Decisions(service, db, data, budgets, key, issuer);
            peaks.Add(string.Create(CultureInfo.InvariantCulture, $"after the decisions {Rss.PeakMegabytes(service.ProcessId):0} MB"));
            peakRss["service on the large ledger (reports, views, decisions)"] = Rss.PeakMegabytes(service.ProcessId);
            notes.Add($"Peak RSS (VmHWM) of the service on the large ledger after each stage: {string.Join(", ", peaks)}.");
        }

        // 6b. "Now" for all claims with nothing absorbed by the rollup (its writer off, the rollup emptied): every change row is the
        // tail. The worst case, e.g. right after migration 0010 until the first advance; with the writer on, the tail is seconds of writes.
        await using (var service = await RunningService.StartAsync(db, key, issuer, new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Warning",
            ["Ledger__ClaimTotalsRollup__IntervalSeconds"] = "0",
        }))
        {
            await Scalar<int>(db, $"truncate {LedgerSetup.Schema}.{ClaimTotalsRollup.CheckpointTable}, {LedgerSetup.Schema}.{ClaimTotalsRollup.RollupTable}; select 0");
            var tail = await Scalar<long>(db, $"select count(*) from {LedgerSetup.Schema}.{ClaimTotalsProjection.ChangesTable}");
            var measured = await TimeReport(Auditor(service, key, issuer), "report paid-vs-lost (all claims), rollup empty (writer off)",
                "/api/reports/paid-vs-lost?groupBy=platform", budgets);
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{measured.Scenario} at {data.Claims:N0} claims, all {tail:N0} change rows in the tail: p50 {measured.P50Ms:0} ms, p95 {measured.P95Ms:0} ms over {measured.Operations} requests (the worst case: no advance at all)."));
            log($"bench: {measured.Scenario}: p95 {measured.P95Ms:0} ms");
        }
    }

    private static HttpClient Auditor(RunningService service, string key, string issuer) => Client(service, key, issuer, "audrey", Roles.Auditor);

    private static HttpClient Client(RunningService service, string key, string issuer, string user, string role)
    {
        var client = new HttpClient { BaseAddress = service.BaseAddress, Timeout = TimeSpan.FromMinutes(5) };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer",
            new AuthSettings { Issuer = issuer, SigningKey = key }.MintToken(user, [role], NodaTime.SystemClock.Instance.GetCurrentInstant(), NodaTime.Duration.FromHours(4)));
        return client;
    }

    /// <summary>One untimed request (the service compiles each endpoint on its first call), then requests one at a time for the budget.</summary>
    private async Task<Measurement> TimeReport(HttpClient auditor, string name, string url, Budgets budgets)
    {
        using (var warm = await auditor.GetAsync(url))
            if (!warm.IsSuccessStatusCode) throw new InvalidOperationException($"{url}: {(int)warm.StatusCode} {await warm.Content.ReadAsStringAsync()}");
        var measured = await Measure.RunFor(name, "service (HTTP)", budgets.ReportSamples, budgets.PerReport, async _ =>
        {
            using var response = await auditor.GetAsync(url);
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{url}: {(int)response.StatusCode}");
            await response.Content.ReadAsByteArrayAsync();
        });
        results.Add(measured);
        return measured;
    }

    /// <summary>
    /// Waits until the service's rollup writer has absorbed every change row (the tail is empty), so "now" is timed as it runs in
    /// steady state; says how long that took and how big the tail was.
    /// </summary>
    private async Task RollupAbsorbed(string db)
    {
        var tailSql = $"select count(*) from {LedgerSetup.Schema}.{ClaimTotalsProjection.ChangesTable} where xid >= {ClaimTotalsRollup.Horizon(LedgerSetup.Schema)}";
        var waited = Stopwatch.StartNew();
        var first = await Scalar<long>(db, tailSql);
        for (var tail = first; tail > 0; tail = await Scalar<long>(db, tailSql))
        {
            if (waited.Elapsed > TimeSpan.FromMinutes(2))
                throw new InvalidOperationException($"The rollup writer left {tail:N0} change rows unabsorbed for 2 minutes.");
            await Task.Delay(200);
        }
        notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"Paid-vs-lost rollup: {first:N0} change rows in the tail when the service started, absorbed by its writer in {waited.Elapsed.TotalSeconds:0.0} s; the \"now\" reports below were timed after that."));
        log($"bench: rollup tail {first:N0} rows absorbed in {waited.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>
    /// Scenario 5: every registered projection rebuilt as the service's <c>rebuild</c> command does (<see cref="LedgerRebuild"/>), <see cref="RebuildConcurrency"/> at a time, each timed, then
    /// the read models checked against what the generator knows. False when a projection did not finish in its share.
    /// </summary>
    private async Task<bool> Rebuild(string db, long stored, Budgets budgets, string key, string issuer, LargeLedger.Generated data)
    {
        await using var host = await InProcessService(db, key, issuer);
        var store = host.Services.GetRequiredService<IDocumentStore>();
        var names = LedgerRebuild.AllNames(store).ToArray();
        // As the service's `rebuild` command does it (LedgerRebuild.RebuildManyAsync): two at a time, the longest first, the totals,
        // fund reports and snapshots folded beside the live tables and swapped in, the rest by Marten's daemon. Each is timed.
        var ordered = LedgerRebuild.InRebuildOrder(names);
        var all = Stopwatch.StartNew();
        using var limit = new CancellationTokenSource(budgets.Rebuild);
        // Stopped by the bound (the budget's cancellation or the daemon's timeout), as opposed to broken.
        bool Bounded(LedgerRebuild.Outcome o) => o.Failure is not null && (limit.IsCancellationRequested || o.Failure is TimeoutException or OperationCanceledException);
        static string ShortName(string name) => name.Split('.')[^1];
        string Describe(LedgerRebuild.Outcome o) => o switch
        {
            { Started: false } => $"{ShortName(o.Name)} NOT STARTED",
            _ when Bounded(o) => string.Create(CultureInfo.InvariantCulture, $"{ShortName(o.Name)} NOT FINISHED after {o.Elapsed.TotalSeconds:0} s"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{ShortName(o.Name)} {o.Elapsed.TotalSeconds:0.0} s"),
        };
        var outcomes = await LedgerRebuild.RebuildManyAsync(store, ordered, RebuildConcurrency, budgets.Rebuild, log, limit.Token,
            finished: outcome => log($"bench: rebuild {outcome.Name}: {Describe(outcome)}"));
        // A rebuild that failed for any other reason than the bound is a broken benchmark, not a slow one.
        if (outcomes.FirstOrDefault(o => o.Failure is not null && !Bounded(o)) is { } broken)
            throw new InvalidOperationException($"The rebuild of {broken.Name} failed.", broken.Failure);
        var eachInOrder = outcomes.Select(Describe).ToList();
        var unfinished = outcomes.Where(o => !o.Done).Select(o => ShortName(o.Name)).ToList();
        all.Stop();
        if (unfinished.Count > 0)
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"Rebuild of all {names.Length} projections ({RebuildConcurrency} at a time) over {stored:N0} events did NOT finish: {string.Join(", ", unfinished)} hit the {budgets.Rebuild.TotalSeconds:0} s limit ({string.Join(", ", eachInOrder)}). So at most {stored / all.Elapsed.TotalSeconds:N0} events/s; target >= 30,000 events/s MISSED. The read models are part-built, so scenario 6 was not run."));
            results.Add(new Measurement("rebuild all projections (events)", "service (rebuild command, stopped at limit)", 1, (int)stored, all.Elapsed.TotalSeconds,
                all.Elapsed.TotalMilliseconds, all.Elapsed.TotalMilliseconds, all.Elapsed.TotalMilliseconds));
            await BaselineScan(db);
            return false;
        }
        var check = await CheckReadModels(store, db, data);
        results.Add(new Measurement("rebuild all projections (events)", "service (rebuild command)", 1, (int)stored, all.Elapsed.TotalSeconds,
            all.Elapsed.TotalMilliseconds, all.Elapsed.TotalMilliseconds, all.Elapsed.TotalMilliseconds));
        var rate = stored / all.Elapsed.TotalSeconds;
        notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"Rebuild of all {names.Length} projections ({RebuildConcurrency} at a time) over {stored:N0} events: {all.Elapsed.TotalSeconds:0.0} s, {rate:N0} events/s; target >= 30,000 events/s (at 1,000,000 events) {(rate >= 30_000 ? "MET" : "MISSED")} ({string.Join(", ", eachInOrder)}). Read models checked against the generator: {check}."));
        log($"bench: rebuild all: {all.Elapsed.TotalSeconds:0.0} s, {rate:N0} events/s; {check}");
        return true;
    }

    /// <summary>
    /// The rebuilt read models against what the generator folded: claims per status, one totals line per claim, each fund's
    /// snapshot (pools, entitlements, payouts) equal to the generator's own fold, one report row per payout.
    /// Throws on any difference: a rebuild that loses or doubles anything must not pass as fast.
    /// </summary>
    private static async Task<string> CheckReadModels(IDocumentStore store, string db, LargeLedger.Generated data)
    {
        string Status(string s) => s.Replace("-", "").Replace("_", "").ToLowerInvariant();
        var expected = data.ClaimsByStatus.ToDictionary(p => Status(p.Key.ToString()), p => p.Value);
        var actual = new Dictionary<string, long>();
        await using (var connection = new NpgsqlConnection(db))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"select data ->> 'status', count(*) from {LedgerSetup.Schema}.mt_doc_claim group by 1", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) actual[Status(reader.GetString(0))] = reader.GetInt64(1);
        }
        if (!expected.OrderBy(p => p.Key).SequenceEqual(actual.OrderBy(p => p.Key)))
            throw new InvalidOperationException($"Claims per status after the rebuild: {string.Join(", ", actual)}; generated: {string.Join(", ", expected)}.");
        var lines = await Scalar<long>(db, $"select count(*) from {LedgerSetup.Schema}.{CompensationLedger.Reports.ClaimTotalsProjection.ClaimsTable}");
        if (lines != data.Claims) throw new InvalidOperationException($"{lines} totals lines after the rebuild for {data.Claims} claims.");
        var payoutRows = await Scalar<long>(db, $"select count(*) from {LedgerSetup.Schema}.{CompensationLedger.Reports.FundReportProjection.PayoutsTable}");
        await using var session = store.QuerySession();
        foreach (var generated in data.Funds)
        {
            var rebuilt = await session.LoadAsync<CompensationLedger.Funds.Fund>(generated.Id)
                ?? throw new InvalidOperationException($"Fund {generated.Id} has no snapshot after the rebuild.");
            if (!rebuilt.Pools.Values.OrderBy(p => p.Sequence).SequenceEqual(generated.Pools.Values.OrderBy(p => p.Sequence))
                || rebuilt.Entitlements.Count != 0 || rebuilt.Payouts.Count != 0)
                throw new InvalidOperationException($"Fund {generated.Id} after the rebuild differs from the generator's fold (pools; its entitlements and payouts are rows).");
            var entitlements = await CompensationLedger.Funds.EntitlementRows.OfFundAsync(session, generated.Id, CancellationToken.None);
            if (!entitlements.OrderBy(e => e.Key).SequenceEqual(generated.Entitlements.OrderBy(e => e.Key)))
                throw new InvalidOperationException($"Fund {generated.Id}'s entitlement rows after the rebuild differ from the generator's fold.");
        }
        var payouts = data.Funds.Sum(f => f.Payouts.Count);
        if (payoutRows != payouts) throw new InvalidOperationException($"{payoutRows} payout rows in the report tables after the rebuild for {payouts} payouts.");
        return string.Create(CultureInfo.InvariantCulture,
            $"claims per status equal ({string.Join(", ", actual.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value:N0}"))}), {lines:N0} totals lines, {data.Funds.Count} fund snapshots and their {data.Funds.Sum(f => f.Entitlements.Count):N0} entitlement rows equal to the generator's fold (to the cent), {payoutRows:N0} payout rows for its {payouts:N0} payouts");
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

    /// <summary>
    /// Scenario 5's second baseline, what the rebuild's output alone costs PostgreSQL: every table a rebuild writes, copied out
    /// (binary COPY to a file, not timed) and written again into copies of those tables (<c>like ... including all</c>: the same
    /// columns, indexes and keys, created before the fill) from the files, by binary COPY, <see cref="RebuildConcurrency"/> at a
    /// time, largest first, as the rebuild runs its projections. It reads no event and folds nothing: PostgreSQL parses every
    /// document's JSON, compresses the large values and builds the indexes, as it must whatever the service's code does. Its time,
    /// with the ordered scan's, is the floor the rebuild's design sets; what the rebuild takes beyond it is the service's own work.
    /// </summary>
    private async Task RebuiltRowsBaseline(string db, long stored)
    {
        const string copySchema = "rebuilt_rows";
        var folder = Path.Combine(Path.GetTempPath(), "ledger-bench-rebuilt-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        try
        {
            // The projections' tables: the snapshot and lookup documents and the report tables (their checkpoint row is not output).
            var tables = new List<(string Name, long Bytes)>();
            await using (var connection = new NpgsqlConnection(db))
            {
                await connection.OpenAsync();
                await using (var list = new NpgsqlCommand(
                    "select table_name from information_schema.tables where table_schema = @schema and table_type = 'BASE TABLE' "
                    + "and (table_name in ('mt_doc_claim', 'mt_doc_fund', 'mt_doc_fraudcase', 'mt_doc_fundterms', 'mt_doc_casecoverage', 'mt_doc_fundindexentry', 'mt_doc_exchangerate') "
                    + "or table_name = @entitlements or (table_name like 'report\\_%' and table_name <> @checkpoint))", connection))
                {
                    list.Parameters.AddWithValue("schema", LedgerSetup.Schema);
                    list.Parameters.AddWithValue("entitlements", FundReportProjection.EntitlementsTable);
                    list.Parameters.AddWithValue("checkpoint", ClaimTotalsRollup.CheckpointTable);
                    await using var reader = await list.ExecuteReaderAsync();
                    while (await reader.ReadAsync()) tables.Add((reader.GetString(0), 0));
                }
                for (var i = 0; i < tables.Count; i++)
                {
                    var file = Path.Combine(folder, tables[i].Name);
                    await using (var export = await connection.BeginRawBinaryCopyAsync($"copy {LedgerSetup.Schema}.{tables[i].Name} to stdout (format binary)"))
                    await using (var output = File.Create(file))
                        await export.CopyToAsync(output);
                    tables[i] = (tables[i].Name, new FileInfo(file).Length);
                }
                await using var create = new NpgsqlCommand(
                    $"drop schema if exists {copySchema} cascade; create schema {copySchema}; "
                    + string.Concat(tables.Select(t => $"create table {copySchema}.{t.Name} (like {LedgerSetup.Schema}.{t.Name} including all); ")) + "checkpoint;", connection);
                await create.ExecuteNonQueryAsync();
            }

            var each = new System.Collections.Concurrent.ConcurrentQueue<string>();
            var before = CpuReading.Take(Environment.ProcessId, cluster.DataDirectory);
            var clock = Stopwatch.StartNew();
            var queue = new System.Collections.Concurrent.ConcurrentQueue<(string Name, long Bytes)>(tables.OrderByDescending(t => t.Bytes));
            // As the service's connections are (LedgerDatabase): large values compressed with LZ4 where the server has it.
            var target = await Scalar<bool>(db, LedgerDatabase.HasLz4Sql)
                ? new NpgsqlConnectionStringBuilder(db) { Options = LedgerDatabase.CompressionOption }.ConnectionString
                : db;
            await Task.WhenAll(Enumerable.Range(0, RebuildConcurrency).Select(async _ =>
            {
                await using var connection = new NpgsqlConnection(target);
                await connection.OpenAsync();
                while (queue.TryDequeue(out var table))
                {
                    var one = Stopwatch.StartNew();
                    await using (var import = await connection.BeginRawBinaryCopyAsync($"copy {copySchema}.{table.Name} from stdin (format binary)"))
                    await using (var source = File.OpenRead(Path.Combine(folder, table.Name)))
                        await source.CopyToAsync(import);
                    each.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{table.Name} {table.Bytes / 1048576.0:N0} MB {one.Elapsed.TotalSeconds:0.0} s"));
                }
            }));
            clock.Stop();
            var used = CpuReading.Take(Environment.ProcessId, cluster.DataDirectory).Since(before);
            results.Add(new Measurement("rebuild all projections (events)", "same rows as the service (raw SQL, COPY of the rebuilt tables)", 1, (int)stored, clock.Elapsed.TotalSeconds,
                clock.Elapsed.TotalMilliseconds, clock.Elapsed.TotalMilliseconds, clock.Elapsed.TotalMilliseconds));
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"Rebuild, same rows as the service: the {tables.Count} rebuilt tables' final rows ({tables.Sum(t => t.Bytes) / 1048576.0:N0} MB as binary COPY) written again by COPY into copies of the tables (indexes created first), {RebuildConcurrency} at a time, no event read: {clock.Elapsed.TotalSeconds:0.0} s, PostgreSQL CPU {used.Server:0.0} s (each, in the order they ended: {string.Join(", ", each)})"));
            log("bench: " + notes[^1]);
            await using var drop = new NpgsqlConnection(db);
            await drop.OpenAsync();
            await using var dropping = new NpgsqlCommand($"drop schema {copySchema} cascade", drop);
            await dropping.ExecuteNonQueryAsync();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
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
        var auditor = Auditor(service, key, issuer);
        await RollupAbsorbed(db);
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
            ("report trial balance", $"/api/reports/trial-balance?fundId={fundId}",
                c => Read(c, $"select type, data from {LedgerSetup.Schema}.mt_events where stream_id = @p0 and type = any(@p1) order by version",
                    fundId, new[] { "pool_deposited", "round_released", "payout_settled", "payout_returned" })),
            ("report payout register (page 1 of 500)", "/api/reports/payout-register?from=2024-01-01&to=2030-12-31",
                c => Read(c, $"select t::text from {LedgerSetup.Schema}.{FundReportProjection.PayoutsTable} t order by t.issued_at_ns, t.reference collate \"C\" limit 500")),
            ("report reconciliation", $"/api/reports/reconciliation?statementId={data.LastStatementId}",
                c => Read(c, $"select data from {LedgerSetup.Schema}.mt_events where type = 'bank_statement_imported' and data ->> 'statementId' = @p0", data.LastStatementId)),
        };
        await FundStatementsTieOut(auditor, data);
        await using var baselineConnection = new NpgsqlConnection(db);
        await baselineConnection.OpenAsync();
        foreach (var (name, url, baseline) in reports)
        {
            var measured = await TimeReport(auditor, name, url, budgets);
            results.Add(await Measure.RunFor(name, "baseline (raw SQL)", budgets.ReportSamples, budgets.PerReport / 3, _ => baseline(baselineConnection)));
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{name} at {data.Claims:N0} claims: p50 {measured.P50Ms:0} ms, p95 {measured.P95Ms:0} ms over {measured.Operations} requests; target p95 <= 100 ms {(measured.P95Ms <= 100 ? "MET" : "MISSED")}."));
            log($"bench: {name}: p95 {measured.P95Ms:0} ms");
        }
    }

    /// <summary>
    /// What finance and auditors open at this size besides the reports: a payout, a page of the payout list, the fund, a round, a
    /// page of the entitlements. The payout views read the payout rows (their baseline: the same rows by raw SQL); the fund and
    /// entitlement views read the fund's document (pools, policy, rounds) and every entitlement row of the fund (the cap per buyer
    /// weighs them all), the round view the document and the round's payout rows: their baselines read the same by raw SQL.
    /// </summary>
    private async Task Views(RunningService service, string db, LargeLedger.Generated data, Budgets budgets, string key, string issuer)
    {
        var auditor = Auditor(service, key, issuer);
        var fund = data.Funds[0];
        var round = fund.Rounds.Values.OrderBy(r => r.Number).Last(r => r.PayoutIds.Count > 0);
        var payout = fund.Payouts[round.PayoutIds[round.PayoutIds.Count / 2]];
        var payouts = $"{LedgerSetup.Schema}.{FundReportProjection.PayoutsTable}";
        var document = $"select data::text from {LedgerSetup.Schema}.mt_doc_fund where id = @p0";
        var entitlements = $"select t::text from {LedgerSetup.Schema}.{FundReportProjection.EntitlementsTable} t where t.fund_id = @p0";
        async Task DocumentAndEntitlements(NpgsqlConnection c)
        {
            await Read(c, document, fund.Id);
            await Read(c, entitlements, fund.Id);
        }
        var views = new (string Name, string Url, string BaselinePath, Func<NpgsqlConnection, Task> Baseline)[]
        {
            ("view payout", $"/api/payouts/{payout.Id}", "baseline (raw SQL)",
                c => Read(c, $"select t::text from {payouts} t where t.payout_id = @p0", payout.Id)),
            ("view payouts of a fund (page 1 of 50)", $"/api/payouts?fundId={fund.Id}", "baseline (raw SQL)",
                c => Read(c, $"select t::text from {payouts} t where t.fund_id = @p0 order by t.reference collate \"C\" limit 50", fund.Id)),
            ("view payouts of all funds (page 1 of 50)", "/api/payouts", "baseline (raw SQL)",
                c => Read(c, $"select t::text from {payouts} t order by t.reference collate \"C\" limit 50")),
            ("view fund", $"/api/funds/{fund.Id}", "baseline (raw SQL, the fund's document and entitlement rows)", DocumentAndEntitlements),
            ("view round", $"/api/rounds/{round.Id}", "baseline (raw SQL, the fund's document and the round's payout rows)", async c =>
            {
                await Read(c, document, fund.Id);
                await Read(c, $"select t::text from {payouts} t where t.round_id = @p0", round.Id);
            }),
            ("view entitlements (page 1 of 50)", $"/api/funds/{fund.Id}/entitlements", "baseline (raw SQL, the fund's document and entitlement rows)", DocumentAndEntitlements),
        };
        await using var baselineConnection = new NpgsqlConnection(db);
        await baselineConnection.OpenAsync();
        foreach (var (name, url, baselinePath, baseline) in views)
        {
            var measured = await TimeReport(auditor, name, url, budgets);
            results.Add(await Measure.RunFor(name, baselinePath, budgets.ReportSamples, budgets.PerReport / 3, _ => baseline(baselineConnection)));
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{name} at {data.Claims:N0} claims ({fund.Payouts.Count:N0} payouts and {fund.Entitlements.Count:N0} entitlements in the fund): p50 {measured.P50Ms:0} ms, p95 {measured.P95Ms:0} ms over {measured.Operations} requests (no target in the issue; {(measured.P95Ms <= 100 ? "within" : "over")} the reports' 100 ms)."));
            log($"bench: {name}: p95 {measured.P95Ms:0} ms");
        }
    }

    /// <summary>
    /// A finance decision on a fund at this size: preparing the reissue of a returned payout, then withdrawing it (one fund command
    /// each: the fund's snapshot loaded with the payout's row and, to prepare, its buyer's entitlement rows; the decision, the event
    /// appended, the snapshot written back, the rows updated). The baseline is what that reading and the snapshot's write cost
    /// PostgreSQL: the fund's document, the payout's row and the buyer's entitlement rows read, the document written again (a new
    /// value, compressed and logged as the snapshot's upsert is), in a transaction rolled back.
    /// </summary>
    private async Task Decisions(RunningService service, string db, LargeLedger.Generated data, Budgets budgets, string key, string issuer)
    {
        var fund = data.Funds[0];
        var now = NodaTime.SystemClock.Instance.GetCurrentInstant();
        var reissuable = fund.Payouts.Values.Where(p => CompensationLedger.Funds.ReissuePayoutEndpoint.Reissuable(fund, p.Id, now) is null)
            .OrderBy(p => p.Reference, StringComparer.Ordinal).Select(p => p.Id).Take(budgets.ReportSamples + 1).ToArray();
        if (reissuable.Length < 4)
        {
            notes.Add($"Fund decisions at {data.Claims:N0} claims: not timed, only {reissuable.Length} returned payouts could be reissued in the generated fund.");
            return;
        }
        var finance = Client(service, key, issuer, "fay", Roles.Finance);
        var bankDetails = new { accountHolder = "Benchmark Buyer Ltd", accountNumber = "GB29NWBK60161331926819", bankName = "Benchmark Bank", country = "GB" };
        async Task Post(string url, object body)
        {
            using var response = await System.Net.Http.Json.HttpClientJsonExtensions.PostAsJsonAsync(finance, url, body);
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{url}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        Task Prepare(Guid payoutId) => Post($"/api/payouts/{payoutId}/reissue", new { bankDetails });
        Task Withdraw(Guid payoutId) => Post($"/api/payouts/{payoutId}/reissue/withdrawal", new { reason = "benchmark: details not confirmed" });
        // One untimed pair: the service compiles each endpoint on its first call.
        await Prepare(reissuable[0]);
        await Withdraw(reissuable[0]);
        var timed = reissuable[1..];
        var prepared = await Measure.RunFor("decide: prepare a payout's reissue", "service (HTTP)", timed.Length, budgets.PerReport, i => Prepare(timed[i]));
        var withdrawn = await Measure.RunFor("decide: withdraw a prepared reissue", "service (HTTP)", prepared.Operations, budgets.PerReport, i => Withdraw(timed[i]));
        for (var i = withdrawn.Operations; i < prepared.Operations; i++) await Withdraw(timed[i]); // what the budget left pending
        results.Add(prepared);
        results.Add(withdrawn);
        await using var connection = new NpgsqlConnection(db);
        await connection.OpenAsync();
        var documentTable = $"{LedgerSetup.Schema}.mt_doc_fund";
        var entitlementsTable = $"{LedgerSetup.Schema}.{FundReportProjection.EntitlementsTable}";
        foreach (var scenario in new[] { prepared.Scenario, withdrawn.Scenario })
            results.Add(await Measure.RunFor(scenario, "baseline (raw SQL, the fund's document and rows read, the document written again)", budgets.ReportSamples, budgets.PerReport / 3, async i =>
            {
                await using var transaction = await connection.BeginTransactionAsync();
                var payoutId = timed[i % timed.Length];
                await Read(connection, $"select data::text from {documentTable} where id = @p0", fund.Id);
                await Read(connection, $"select t::text from {LedgerSetup.Schema}.{FundReportProjection.PayoutsTable} t where t.payout_id = @p0", payoutId);
                await Read(connection, $"select e::text from {entitlementsTable} e where e.fund_id = @p0 and e.buyer_key = " +
                    $"(select buyer_key from {entitlementsTable} where fund_id = @p0 and claim_id = @p1)", fund.Id, fund.Payouts[payoutId].PerClaim[0].ClaimId);
                await using (var update = new NpgsqlCommand($"update {documentTable} set data = data || '{{}}'::jsonb where id = @p0", connection, transaction))
                {
                    update.Parameters.AddWithValue("p0", fund.Id);
                    await update.ExecuteNonQueryAsync();
                }
                await transaction.RollbackAsync();
            }));
        foreach (var measured in new[] { prepared, withdrawn })
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{measured.Scenario} at {data.Claims:N0} claims (one fund command on a fund of {fund.Entitlements.Count:N0} entitlements and {fund.Payouts.Count:N0} payouts): p50 {measured.P50Ms:0} ms, p95 {measured.P95Ms:0} ms over {measured.Operations} requests."));
            log($"bench: {measured.Scenario}: p95 {measured.P95Ms:0} ms");
        }

        // A round over the whole fund, then its cancellation: preparing weighs every entitlement of the fund (read from their rows) and
        // sets money aside for what returned payouts left owed; cancelling gives it back, so the next pair finds the same fund.
        async Task<bool> RoundAndCancel()
        {
            using var response = await System.Net.Http.Json.HttpClientJsonExtensions.PostAsJsonAsync(finance, $"/api/funds/{fund.Id}/rounds", new { note = "benchmark" });
            var text = await response.Content.ReadAsStringAsync();
            if ((int)response.StatusCode == 409) return false; // nothing owed or nothing available: said in the notes
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"prepare a round: {(int)response.StatusCode} {text}");
            using var round = System.Text.Json.JsonDocument.Parse(text);
            await Post($"/api/rounds/{round.RootElement.GetProperty("id").GetGuid()}/cancellation", new { reason = "benchmark: not released" });
            return true;
        }
        if (!await RoundAndCancel())
        {
            notes.Add($"Round preparation at {data.Claims:N0} claims: not timed, the generated fund had nothing a round could pay.");
            return;
        }
        var rounds = await Measure.RunFor("decide: prepare a round over the fund, then cancel it", "service (HTTP, two commands)", budgets.ReportSamples, budgets.PerReport,
            async _ => await RoundAndCancel());
        results.Add(rounds);
        results.Add(await Measure.RunFor(rounds.Scenario, "baseline (raw SQL, the fund's document and every entitlement row read, the document written twice)",
            budgets.ReportSamples, budgets.PerReport / 3, async _ =>
            {
                await using var transaction = await connection.BeginTransactionAsync();
                await Read(connection, $"select data::text from {documentTable} where id = @p0", fund.Id);
                await Read(connection, $"select e::text from {entitlementsTable} e where e.fund_id = @p0", fund.Id);
                for (var write = 0; write < 2; write++)
                {
                    await using var update = new NpgsqlCommand($"update {documentTable} set data = data || '{{}}'::jsonb where id = @p0", connection, transaction);
                    update.Parameters.AddWithValue("p0", fund.Id);
                    await update.ExecuteNonQueryAsync();
                }
                await transaction.RollbackAsync();
            }));
        notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"{rounds.Scenario} at {data.Claims:N0} claims (a fund of {fund.Entitlements.Count:N0} entitlements): p50 {rounds.P50Ms:0} ms, p95 {rounds.P95Ms:0} ms over {rounds.Operations} pairs."));
        log($"bench: {rounds.Scenario}: p95 {rounds.P95Ms:0} ms");
    }

    /// <summary>
    /// Every fund's statement over the whole ledger, read from the rebuilt report tables: each pool and the total tie out
    /// (opening + deposits - payouts + returns = closing), and the deposits are what the generator deposited.
    /// </summary>
    private static async Task FundStatementsTieOut(HttpClient auditor, LargeLedger.Generated data)
    {
        foreach (var fund in data.Funds)
        {
            using var response = await auditor.GetAsync($"/api/reports/fund-statement?fundId={fund.Id}&from=2024-01-01&to=2030-12-31");
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"fund statement of {fund.Id}: {(int)response.StatusCode}");
            using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            decimal Amount(System.Text.Json.JsonElement line, string name) => line.GetProperty(name).GetProperty("amount").GetDecimal();
            var lines = json.RootElement.GetProperty("pools").EnumerateArray().Append(json.RootElement.GetProperty("total")).ToList();
            foreach (var line in lines)
                if (Amount(line, "opening") + Amount(line, "deposits") - Amount(line, "payouts") + Amount(line, "returns") != Amount(line, "closing"))
                    throw new InvalidOperationException($"The fund statement of {fund.Id} does not tie out after the rebuild: {line}");
            var deposited = fund.Pools.Values.Sum(p => p.Deposited);
            if (Amount(lines[^1], "deposits") != deposited)
                throw new InvalidOperationException($"The fund statement of {fund.Id} shows deposits of {Amount(lines[^1], "deposits")}, the generator deposited {deposited}.");
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

}

public static class Rss
{
    public static double PeakMegabytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? double.NaN : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }
}
