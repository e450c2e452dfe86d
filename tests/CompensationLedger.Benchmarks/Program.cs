using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CompensationLedger.Benchmarks;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Browser;
using CompensationLedger.IntegrationTests.Infrastructure;
using NodaTime;
using Npgsql;

// Benchmarks: the service's real path against a raw-Npgsql baseline doing only the unavoidable
// database work, on the same PostgreSQL (a throwaway cluster with durable settings), in one run.
// Filing and bulk intake also run a second baseline, the service's own rows by raw SQL (ServiceRows.cs).
// Usage: dotnet run -c Release --project tests/CompensationLedger.Benchmarks [-- [--smoke | --micro] [--out DIR] [--name NAME]
//        [--lifecycle N] [--events N] [--no-micro]]
//   (no option)  every scenario at full size, then the micro-benchmarks; writes results/latest.{md,json}
//   --smoke      every scenario at tiny sizes and the micro-benchmarks as a dry run (CI); writes smoke.{md,json}
//   --micro      only the BenchmarkDotNet micro-benchmarks (short job); writes micro.{md,json}
//   --lifecycle-only only scenario 2; writes lifecycle.{md,json}
//   --large-only only scenarios 5 and 6 (the generated ledger); writes large.{md,json}
//   --lifecycle N / --events N  override scenario 2's claims / scenarios 5-6's events (a medium run)
//   --bulk-only [--bulk N]  only scenario 3, N rows (default 20,000): the import row by row through Marten (Ledger:Import:Copy=false),
//                the import with COPY, and the baseline, in that order on one cluster, with service CPU and database counters; writes bulk.{md,json}
//                (--copy-only leaves out the row-by-row import: the COPY path and the baseline at 100,000 rows in a couple of minutes;
//                with LEDGER_POSTGRES_OPTIONS="-c shared_preload_libraries=pg_stat_statements" the notes list where the server's time went)
//   --rebuild-budget S  scenario 5's bound in seconds (default 240), e.g. with --large-only to measure scenario 6 at a million events
//   --filing-only only scenarios 1 and 4 (filing, status lookups) and the service's peak RSS; writes filing.{md,json}
//   --filings N / --lookups N   override scenario 1's filings per client count / scenario 4's lookups
//                (with pg_stat_statements preloaded, as for --bulk-only, the notes list the statements of the service's 8-client filing run, without the baselines')
var runTime = Stopwatch.StartNew();
var smoke = args.Contains("--smoke");
var microOnly = args.Contains("--micro");
string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
var outDir = Option("--out") ?? Path.Combine(RepoRoot(), "tests", "CompensationLedger.Benchmarks", "results");
var runName = Option("--name") ?? (smoke ? "smoke" : microOnly ? "micro" : "latest");
var microArtifacts = Path.Combine(Path.GetTempPath(), "ledger-bench-micro-" + Guid.NewGuid().ToString("N")[..8]);
if (microOnly)
{
    var onlyMicro = Micro.Run(smoke, microArtifacts);
    Report.Write(outDir, runName, "micro-benchmarks only", [], new Dictionary<string, double>(), new Dictionary<string, object>(), [], onlyMicro, runTime.Elapsed);
    return 0;
}
var filings = int.Parse(Option("--filings") ?? (smoke ? "40" : "2000"), CultureInfo.InvariantCulture);
var lookups = int.Parse(Option("--lookups") ?? (smoke ? "40" : "16000"), CultureInfo.InvariantCulture);
var lifecycleClaims = int.Parse(Option("--lifecycle") ?? (smoke ? "30" : "10000"), CultureInfo.InvariantCulture);
var largeEvents = long.Parse(Option("--events") ?? (smoke ? "5000" : "1000000"), CultureInfo.InvariantCulture);
var notes = new List<string>();
var peakRss = new Dictionary<string, double>();

Console.Error.WriteLine($"bench: starting PostgreSQL ({(smoke ? "smoke" : "full")} run)");
using var cluster = LocalPostgresCluster.StartThrowaway(durable: true);
await cluster.EnsureDatabaseAsync("ledger_bench");
await cluster.EnsureDatabaseAsync("baseline_bench");
var ledgerDb = cluster.ConnectionString("ledger_bench");
var baselineDb = new NpgsqlConnectionStringBuilder(cluster.ConnectionString("baseline_bench")) { MaxPoolSize = 100 }.ConnectionString;

const string key = "benchmark-signing-key-0123456789abcdefghij";
const string issuer = "compensation-ledger-bench";
var largeShape = smoke ? new LargeLedger.Shape(1, 2, 50) : new LargeLedger.Shape(4, 5, 2_000);
// Every stage that grows with the ledger has a bound, so the whole run ends in about 15 minutes on 2 cores whatever today's code costs;
// a stage that hits its bound says so in the notes and what size it reached.
var largeBudgets = smoke
    ? new LargeScenarios.Budgets(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60), 3, TimeSpan.FromSeconds(5))
    // The rebuild gets 240 s: generation now takes ~1-2 minutes instead of its whole 150 s, and a rebuild that stops at its
    // bound leaves scenario 6 (reports at a million events) unmeasured.
    : new LargeScenarios.Budgets(TimeSpan.FromSeconds(150), TimeSpan.FromSeconds(240), 40, TimeSpan.FromSeconds(20));
// --rebuild-budget S: a longer bound for scenario 5, so scenario 6 can be measured at a million events when the rebuild
// takes longer than the one command's 15 minutes allow (a separate, documented run; results/large-1m.md).
if (Option("--rebuild-budget") is { } rebuildBudget)
    largeBudgets = largeBudgets with { Rebuild = TimeSpan.FromSeconds(int.Parse(rebuildBudget, CultureInfo.InvariantCulture)) };
if (args.Contains("--large-only"))
{
    // Scenarios 5 and 6 alone (a medium run of the large ledger, or working on them).
    var largeResults = new List<Measurement>();
    await new LargeScenarios(cluster, largeResults, notes, peakRss, Console.Error.WriteLine).RunAsync(largeEvents, largeShape, largeBudgets, key, issuer);
    Report.Write(outDir, Option("--name") ?? "large", $"scenarios 5 and 6 only, {largeEvents:N0} events", largeResults, peakRss,
        new Dictionary<string, object> { ["large ledger events (target)"] = largeEvents }, notes, [], runTime.Elapsed);
    return 0;
}
// For A/B runs: BENCH_SERVICE_CONNECTION adds connection-string settings for the service only ("No Reset On Close=true"), and
// BENCH_SERVICE_ENV passes environment variables to it ("NAME=value|NAME=value").
var serviceDb = Environment.GetEnvironmentVariable("BENCH_SERVICE_CONNECTION") is { Length: > 0 } extra ? ledgerDb + ";" + extra : ledgerDb;
var service = await RunningService.StartAsync(serviceDb, key, issuer, new Dictionary<string, string>
{
    // The buyers' guessing limits would throttle a load test from one address: lifted for the benchmark only.
    ["Ledger__StatusLookup__PerClientPerMinute"] = "100000000",
    ["Logging__LogLevel__Default"] = "Warning",
    // The import's one line on where its time went (fingerprint lookups, reference numbers, saves), for the notes.
    ["Logging__LogLevel__CompensationLedger.Claims.ClaimImportResult"] = "Information",
}.Concat((Environment.GetEnvironmentVariable("BENCH_SERVICE_ENV") ?? "").Split('|', StringSplitOptions.RemoveEmptyEntries)
    .Select(kv => KeyValuePair.Create(kv[..kv.IndexOf('=')], kv[(kv.IndexOf('=') + 1)..]))).ToDictionary());
await using var stopService = new StopOnce(service.DisposeAsync);
// Where the service's peak resident memory was reached: its high-water mark after each scenario (it never goes down).
var peakAfter = new List<string>();
void PeakAfter(string stage) => peakAfter.Add(string.Create(CultureInfo.InvariantCulture, $"{stage} {Rss.PeakMegabytes(service.ProcessId):0} MB"));
Console.Error.WriteLine($"bench: service {service.BaseAddress} (pid {service.ProcessId})");

HttpClient Staff(string name, string role)
{
    var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = service.BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
    var token = new AuthSettings { Issuer = issuer, SigningKey = key }.MintToken(name, [role], SystemClock.Instance.GetCurrentInstant(), Duration.FromHours(4));
    client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    return client;
}

var today = SystemClock.Instance.GetCurrentInstant().InUtc().Date;
var investigator = Staff("ivy", Roles.Investigator);
var handler = Staff("hana", Roles.ClaimsHandler);
var caseResponse = await investigator.PostJson("/api/cases", new
{
    title = "Benchmark ring",
    platforms = new[] { "Alibaba.com" },
    activeFrom = today.PlusDays(-300).ToString("uuuu-MM-dd", null),
    activeTo = today.ToString("uuuu-MM-dd", null),
    estimatedLoss = new { amount = 10_000_000m, currency = "USD" },
});
caseResponse.EnsureSuccessStatusCode();
var caseId = (await caseResponse.Json()).GetProperty("id").GetGuid();
(await investigator.PostJson($"/api/cases/{caseId}/supplier-accounts",
    new { accounts = new[] { new { platform = "Alibaba.com", accountId = "cnbench", displayName = "Bench Electronics" } } })).EnsureSuccessStatusCode();

await Baseline.CreateTables(baselineDb);
var results = new List<Measurement>();
if (args.Contains("--bulk-only"))
{
    // Scenario 3 alone, both import paths against the baseline in one run: the Marten path first (on the emptier database), then COPY.
    var rows = int.Parse(Option("--bulk") ?? "20000", CultureInfo.InvariantCulture);
    var sizesBulk = new Dictionary<string, object> { ["bulk import rows"] = rows };
    var settings = new Dictionary<string, string>
    {
        ["Logging__LogLevel__Default"] = "Warning", ["Logging__LogLevel__CompensationLedger.Claims.ClaimImportResult"] = "Information", ["Ledger__Import__Copy"] = "false",
    };
    if (!args.Contains("--copy-only"))
    await using (var rowByRow = await RunningService.StartAsync(ledgerDb, key, issuer, settings))
    {
        await BulkImport(rowByRow.BaseAddress, rowByRow.ProcessId, 50, 10_000_000, "warm-up", record: false);
        await BulkImport(rowByRow.BaseAddress, rowByRow.ProcessId, rows, 0, "service (HTTP, one CSV), row by row through Marten");
        notes.AddRange(ImportLog(rowByRow, "row by row"));
        peakRss["service, row by row"] = Rss.PeakMegabytes(rowByRow.ProcessId);
    }
    await BulkImport(service.BaseAddress, service.ProcessId, 50, 10_000_100, "warm-up", record: false);
    var statements = await StatementStats.ResetAsync(ledgerDb);
    await BulkImport(service.BaseAddress, service.ProcessId, rows, rows, "service (HTTP, one CSV), COPY");
    notes.AddRange(ImportLog(service, "COPY"));
    peakRss["service, COPY"] = Rss.PeakMegabytes(service.ProcessId);
    await BaselineBulkImport(rows);
    await ServiceRowsBulkImport(rows, rows);
    if (statements) notes.AddRange(await StatementStats.TopAsync(ledgerDb, 16));
    Report.Write(outDir, Option("--name") ?? "bulk", $"scenario 3 only, {rows:N0} rows", results, peakRss, sizesBulk, notes, [], runTime.Elapsed);
    return 0;
}
if (args.Contains("--lifecycle-only"))
{
    // Scenario 2 alone (a medium run of the lifecycle, or working on it).
    await new Lifecycle(Staff, ledgerDb, baselineDb, results, notes, Console.Error.WriteLine, PeakAfter)
        .RunAsync(lifecycleClaims, 8, smoke ? TimeSpan.FromMinutes(2) : TimeSpan.FromSeconds(100), smoke ? TimeSpan.FromMinutes(2) : TimeSpan.FromSeconds(180), today);
    peakRss["service (scenario 2)"] = Rss.PeakMegabytes(service.ProcessId);
    notes.Add($"Peak RSS (VmHWM) of the service after each stage: {string.Join(", ", peakAfter)}");
    Report.Write(outDir, Option("--name") ?? "lifecycle", $"scenario 2 only, {lifecycleClaims:N0} claims", results, peakRss,
        new Dictionary<string, object> { ["lifecycle claims"] = lifecycleClaims }, notes, [], runTime.Elapsed);
    return 0;
}
// Scenarios 1 and 4 are CPU-bound on the shared cores: each run's CPU per operation (service, PostgreSQL, this process's clients)
// goes in the notes, so the ratio can be read against what each side spends.
async Task<Measurement> Metered(Func<Task<Measurement>> run, bool servicePath)
{
    var before = CpuReading.Take(service.ProcessId, cluster.DataDirectory);
    var measured = await run();
    var used = CpuReading.Take(service.ProcessId, cluster.DataDirectory).Since(before);
    notes.Add($"{measured.Scenario}, {measured.Path}, {measured.Clients} client(s): CPU per operation: {used.PerOperation(measured.Operations, servicePath)}");
    return measured;
}
var credentials = new (string Reference, string Code)[filings * 3];
ServiceRows? serviceRows = null;
var run = 0;

// 1. Filing claims over HTTP, 1, 8 and 32 clients, against the same rows written by raw SQL.
foreach (var clients in new[] { 1, 8, 32 })
{
    var offset = run++ * filings;
    // Working on filing (--filing-only with pg_stat_statements preloaded): the server's statements of the 8-client service run in the notes.
    var statementsAt8 = clients == 8 && args.Contains("--filing-only") && await StatementStats.ResetAsync(ledgerDb);
    results.Add(await Metered(() => Measure.Run("file claim", "service (HTTP)", clients, filings, async i =>
    {
        var n = offset + i;
        var body = new Dictionary<string, object?>
        {
            ["caseId"] = caseId,
            ["buyer"] = new { name = $"Buyer {n}", country = "US", email = $"buyer{n}@example.com" },
            ["platform"] = "Alibaba.com",
            ["supplierAccount"] = "cnbench",
            ["orderReference"] = $"ORD-{n}",
            ["orderDate"] = today.PlusDays(-12).ToString("uuuu-MM-dd", null),
            ["paymentDate"] = today.PlusDays(-10).ToString("uuuu-MM-dd", null),
            ["amountPaid"] = new { amount = 1000m + n % 900, currency = "USD" },
            ["paymentReference"] = $"TT-BENCH-{n}",
            ["goodsDescription"] = "Laptops",
        };
        using var response = await handler.PostJson("/api/claims", body, idempotencyKey: $"file-{n}");
        if ((int)response.StatusCode != 201) throw new InvalidOperationException($"Filing {n}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        var json = await response.Json();
        credentials[n] = (json.GetProperty("reference").GetString()!, json.GetProperty("accessCode").GetString()!);
    }), servicePath: true));
    // The service path's statements alone (the baselines' would mix in).
    if (statementsAt8) notes.AddRange(await StatementStats.TopAsync(ledgerDb, 40));
    results.Add(await Metered(() => Measure.Run("file claim", "baseline (raw SQL)", clients, filings, i => Baseline.FileClaim(baselineDb, offset + i)), servicePath: false));
    // The second baseline: the service's own rows (a real filing's, copied) into copies of its own tables, by raw SQL.
    if (serviceRows is null)
    {
        serviceRows = await ServiceRows.PrepareAsync(ledgerDb, LedgerSetup.Schema, credentials[offset].Reference);
        notes.Add($"file claim, same rows as the service (raw SQL): a real filing's rows, ids and keys replaced, into copies of the service's tables (same columns, indexes, keys; schema {ServiceRows.Schema}); per filing: {serviceRows.Describe()}, and a reference number from a sequence, in one transaction");
    }
    results.Add(await Metered(() => Measure.Run("file claim", "same rows as the service (raw SQL)", clients, filings, i => serviceRows.FileClaim(offset + i)), servicePath: false));
    if (clients == 32) await ServiceRows.DropAsync(ledgerDb);
    Console.Error.WriteLine($"bench: filing at {clients} client(s) done");
    PeakAfter($"filing at {clients}");
}

// 4. Buyers' status lookups at 8 and 32 clients, against a raw SELECT by key.
var buyerClient = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = service.BaseAddress };
async Task ServiceLookup(int i)
{
    var (reference, code) = credentials[i % credentials.Length];
    using var response = await buyerClient.PostJson("/api/status-lookups", new { reference, accessCode = code });
    if ((int)response.StatusCode != 200) throw new InvalidOperationException($"Lookup {reference}: {(int)response.StatusCode}");
    await response.Content.ReadAsByteArrayAsync();
}
Task BaselineLookup(int i) => Baseline.LookUp(baselineDb, i % credentials.Length);
// Both paths warm up first, as scenario 1's 1-client run warms up filing: the lookup code is compiled (tier 0, then tier 1
// after its first calls), the buyers' connections opened. A p99 over a few seconds is otherwise the JIT's and the new
// connections'. What the first lookups cost is in the notes, not hidden.
var warmUp = Math.Min(lookups, 2000);
var coldService = await Measure.Run("status lookup", "service (HTTP)", 8, warmUp, ServiceLookup);
var coldBaseline = await Measure.Run("status lookup", "baseline (raw SQL)", 8, warmUp, BaselineLookup);
notes.Add(string.Create(CultureInfo.InvariantCulture,
    $"status lookups, warm-up before the table's rows (the first {warmUp:N0} lookups after the filings, 8 clients): service {coldService.PerSecond:N0}/s, p50 {coldService.P50Ms:0.0} ms, p99 {coldService.P99Ms:0.0} ms; baseline {coldBaseline.PerSecond:N0}/s, p50 {coldBaseline.P50Ms:0.0} ms, p99 {coldBaseline.P99Ms:0.0} ms"));
foreach (var clients in new[] { 8, 32 })
{
    results.Add(await Metered(() => Measure.Run("status lookup", "service (HTTP)", clients, lookups, ServiceLookup), servicePath: true));
    results.Add(await Metered(() => Measure.Run("status lookup", "baseline (raw SQL)", clients, lookups, BaselineLookup), servicePath: false));
    Console.Error.WriteLine($"bench: lookups at {clients} clients done");
    PeakAfter($"lookups at {clients}");
}

if (args.Contains("--filing-only"))
{
    // Scenarios 1 and 4 alone (working on the filing and lookup paths: a few minutes instead of the full run).
    peakRss["service (scenarios 1 and 4)"] = Rss.PeakMegabytes(service.ProcessId);
    Report.Write(outDir, Option("--name") ?? "filing", $"scenarios 1 and 4 only, {filings:N0} filings per client count, {lookups:N0} lookups", results, peakRss,
        new Dictionary<string, object> { ["filings per client count"] = filings, ["lookups"] = lookups }, notes, [], runTime.Elapsed);
    return 0;
}

// 3. Bulk intake: N claims in one CSV import over HTTP (batched appends), against COPY of the same rows in the same batches.
var bulkRows = smoke ? 200 : 100_000;
Console.Error.WriteLine($"bench: bulk import of {bulkRows} rows");
// Warmed up as scenario 1's clients are (the import's code compiled, its connections open), and each path timed from a checkpoint.
await BulkImport(service.BaseAddress, service.ProcessId, 50, 10_000_000, "warm-up", record: false);
await BulkImport(service.BaseAddress, service.ProcessId, bulkRows, 0, "service (HTTP, one CSV)");
notes.AddRange(ImportLog(service, "bulk import"));
await BaselineBulkImport(bulkRows);
await ServiceRowsBulkImport(bulkRows, 0);
Console.Error.WriteLine("bench: bulk import done");
PeakAfter("bulk import");

// 2. The whole lifecycle for N claims, stage by stage, on the same service.
await new Lifecycle(Staff, ledgerDb, baselineDb, results, notes, Console.Error.WriteLine, PeakAfter)
    .RunAsync(lifecycleClaims, 8, smoke ? TimeSpan.FromMinutes(2) : TimeSpan.FromSeconds(100), smoke ? TimeSpan.FromMinutes(2) : TimeSpan.FromSeconds(180), today);

// 7. The service's peak resident memory over scenarios 1 to 4.
peakRss["service (scenarios 1-4)"] = Rss.PeakMegabytes(service.ProcessId);
notes.Add($"Peak RSS (VmHWM) of the service after each scenario: {string.Join(", ", peakAfter)}");
await stopService.DisposeAsync();

// 5 and 6. Rebuilding every projection and the reports, on a ledger of about a million events in its own database.
await new LargeScenarios(cluster, results, notes, peakRss, Console.Error.WriteLine).RunAsync(largeEvents, largeShape, largeBudgets, key, issuer);

// Micro-benchmarks last, with the database work over (a dry job in the smoke run: it checks they run).
IReadOnlyList<Micro.Result> micro = args.Contains("--no-micro") ? [] : Micro.Run(smoke, microArtifacts);

var sizes = new Dictionary<string, object>
{
    ["filings per client count"] = filings,
    ["lookups"] = lookups,
    ["bulk import rows"] = bulkRows,
    ["lifecycle claims"] = lifecycleClaims,
    ["large ledger events (target)"] = largeEvents,
};
Report.Write(outDir, runName, smoke ? "smoke run: small sizes, not for reading speed" : lifecycleClaims == 10_000 && largeEvents == 1_000_000 ? "full run" : "medium run",
    results, peakRss, sizes, notes, micro, runTime.Elapsed);
Console.Error.WriteLine($"bench: results written to {outDir} ({runTime.Elapsed.TotalMinutes:0.0} min)");
return 0;

// One import of `rows` claims (numbered from `offset`) through the service at `address`, timed as a whole, with the service process's
// CPU time (/proc/PID/stat, user + system) and the database's own counters (transactions, rows inserted) over it, into the notes.
async Task BulkImport(Uri address, int pid, int rows, int offset, string path, bool record = true)
{
    var csv = BulkCsvFile.Build(rows, today, offset);
    using var importer = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromMinutes(30) };
    importer.DefaultRequestHeaders.Authorization = handler.DefaultRequestHeaders.Authorization;
    var (commitsBefore, insertsBefore) = record ? await DatabaseCounters() : default;
    var writesBefore = record ? await Checkpoint() : default;
    var cpuBefore = CpuReading.ProcessSeconds(pid);
    var clock = Stopwatch.StartNew();
    using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/claims/imports?caseId={caseId}") { Content = new ByteArrayContent(csv) };
    request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/csv") { CharSet = "utf-8" };
    request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/csv"));
    using var response = await importer.SendAsync(request);
    var outcome = await response.Content.ReadAsStringAsync();
    clock.Stop();
    var cpu = CpuReading.ProcessSeconds(pid) - cpuBefore;
    var filed = outcome.Split("\r\n").Count(l => l.Contains(",filed,", StringComparison.Ordinal));
    if ((int)response.StatusCode != 200 || filed != rows)
        throw new InvalidOperationException($"Bulk import: {(int)response.StatusCode}, {filed} of {rows} filed: {outcome[..Math.Min(outcome.Length, 2000)]}");
    if (!record) return;
    var (wal, checkpoints) = (await ServerWrites()).Since(writesBefore);
    await Task.Delay(1100); // backends report their transactions to the statistics at most every second
    var (commitsAfter, insertsAfter) = await DatabaseCounters();
    results.Add(Whole("bulk import", path, rows, clock.Elapsed));
    var inserted = insertsAfter - insertsBefore;
    notes.Add(string.Create(CultureInfo.InvariantCulture, $"{path}: {rows:N0} rows in {clock.Elapsed.TotalSeconds:0.0} s, service CPU {cpu:0.0} s = {cpu * 1000 / rows:0.00} ms per claim, {commitsAfter - commitsBefore:N0} commits (approximately) and {inserted:N0} rows more in the ledger schema ({(double)inserted / rows:0.0} per claim), {wal / 1048576.0:N0} MB of WAL ({(double)wal / rows:N0} bytes per claim), {checkpoints} checkpoint(s) of the server during it"));
    Console.Error.WriteLine("bench: " + notes[^1]);
}

// The baseline of scenario 3, timed from a checkpoint as the service's import is.
async Task BaselineBulkImport(int rows)
{
    var writesBefore = await Checkpoint();
    var clock = Stopwatch.StartNew();
    await Baseline.BulkImport(baselineDb, rows, CompensationLedger.Claims.ImportClaimsEndpoint.BatchSize);
    clock.Stop();
    var (wal, checkpoints) = (await ServerWrites()).Since(writesBefore);
    results.Add(Whole("bulk import", "baseline (raw SQL, COPY)", rows, clock.Elapsed));
    notes.Add(string.Create(CultureInfo.InvariantCulture, $"baseline (raw SQL, COPY): {rows:N0} rows in {clock.Elapsed.TotalSeconds:0.0} s, {wal / 1048576.0:N0} MB of WAL ({(double)wal / rows:N0} bytes per claim), {checkpoints} checkpoint(s) of the server during it"));
    Console.Error.WriteLine("bench: " + notes[^1]);
}

// Scenario 3's second baseline: the import's own rows (those of its claim numbered `templateRow`, copied) by COPY into copies of
// the service's tables, timed from a checkpoint as the other two paths are.
async Task ServiceRowsBulkImport(int rows, int templateRow)
{
    var copies = await ServiceRows.PrepareAsync(ledgerDb, LedgerSetup.Schema, orderReference: $"ORD-BULK-{templateRow}");
    var writesBefore = await Checkpoint();
    var clock = Stopwatch.StartNew();
    await copies.CopyAsync(rows, CompensationLedger.Claims.ImportClaimsEndpoint.BatchSize, offset: 0);
    clock.Stop();
    var (wal, checkpoints) = (await ServerWrites()).Since(writesBefore);
    const string path = "same rows as the service (raw SQL, COPY)";
    results.Add(Whole("bulk import", path, rows, clock.Elapsed));
    notes.Add(string.Create(CultureInfo.InvariantCulture, $"{path}: {rows:N0} rows in {clock.Elapsed.TotalSeconds:0.0} s, {wal / 1048576.0:N0} MB of WAL ({(double)wal / rows:N0} bytes per claim), {checkpoints} checkpoint(s) of the server during it; an imported claim's rows, ids and keys replaced, into copies of the service's tables (schema {ServiceRows.Schema}), per claim: {copies.Describe()}"));
    Console.Error.WriteLine("bench: " + notes[^1]);
    await ServiceRows.DropAsync(ledgerDb);
}

// A checkpoint now, so the timed write that follows does not pay for the dirty pages of what ran before it (and both paths of a
// scenario start alike); returns the server's write counters after it.
async Task<ServerWriteCounters> Checkpoint()
{
    await using (var connection = new NpgsqlConnection(ledgerDb))
    {
        await connection.OpenAsync();
        await using var checkpoint = new NpgsqlCommand("checkpoint", connection);
        await checkpoint.ExecuteNonQueryAsync();
    }
    return await ServerWrites();
}

// The server's write-ahead log position in bytes (its difference over a write is how much it logged: rows, index entries, page
// images) and the checkpoints it has made (timed by checkpoint_timeout, or requested: max_wal_size reached, or a CHECKPOINT command).
async Task<ServerWriteCounters> ServerWrites()
{
    await using var connection = new NpgsqlConnection(ledgerDb);
    await connection.OpenAsync();
    await using var read = new NpgsqlCommand(
        "select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, (select checkpoints_timed + checkpoints_req from pg_stat_bgwriter)", connection);
    await using var reader = await read.ExecuteReaderAsync();
    await reader.ReadAsync();
    return new ServerWriteCounters(reader.GetInt64(0), reader.GetInt64(1));
}

// The "Import of ..." line a service logged for each import after its first (the warm-up), labelled for the notes.
static IEnumerable<string> ImportLog(RunningService service, string label) =>
    service.Output.Split('\n').Where(l => l.Contains("Import of", StringComparison.Ordinal)).Skip(1).Select(l => $"{label}, the service's log: " + l.Trim());

// Exact row counts of the ledger schema's tables (events, streams, documents, report tables) and the database's committed transactions
// (the statistics collector's figure: it can lag by the last idle connection's share, so it is approximate).
async Task<(long Commits, long Rows)> DatabaseCounters()
{
    await using var connection = new NpgsqlConnection(ledgerDb);
    await connection.OpenAsync();
    await using var read = new NpgsqlCommand(
        "select (select xact_commit from pg_stat_database where datname = current_database()), "
        + "(select sum((xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', table_schema, table_name), false, true, '')))[1]::text::bigint)::bigint "
        + $" from information_schema.tables where table_schema = '{LedgerSetup.Schema}' and table_type = 'BASE TABLE')", connection);
    await using var reader = await read.ExecuteReaderAsync();
    await reader.ReadAsync();
    return (reader.GetInt64(0), reader.GetInt64(1));
}


// One timed whole (an import is one request): claims/s over the whole; the latency columns hold the whole's duration.
static Measurement Whole(string scenario, string path, int rows, TimeSpan elapsed) => Lifecycle.Whole(scenario, path, rows, elapsed);

static string RepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "CompensationLedger.sln"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}

/// <summary>Stops the first service once, whether the run gets to stopping it or fails before.</summary>
sealed class StopOnce(Func<ValueTask> stop) : IAsyncDisposable
{
    private bool _done;

    public async ValueTask DisposeAsync()
    {
        if (_done) return;
        _done = true;
        await stop();
    }
}

/// <summary>The server's WAL position (bytes) and checkpoint count at one moment.</summary>
internal readonly record struct ServerWriteCounters(long WalBytes, long Checkpoints)
{
    public (long WalBytes, long Checkpoints) Since(ServerWriteCounters before) => (WalBytes - before.WalBytes, Checkpoints - before.Checkpoints);
}
