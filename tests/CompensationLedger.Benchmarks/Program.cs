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
// Usage: dotnet run -c Release --project tests/CompensationLedger.Benchmarks [-- --smoke] [--out DIR]
var smoke = args.Contains("--smoke");
var outIndex = Array.IndexOf(args, "--out");
var outDir = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : Path.Combine(RepoRoot(), "tests", "CompensationLedger.Benchmarks", "results");
var filings = smoke ? 40 : 2000;
var lookups = smoke ? 40 : 4000;

Console.Error.WriteLine($"bench: starting PostgreSQL ({(smoke ? "smoke" : "full")} run)");
using var cluster = LocalPostgresCluster.StartThrowaway(durable: true);
await cluster.EnsureDatabaseAsync("ledger_bench");
await cluster.EnsureDatabaseAsync("baseline_bench");
var ledgerDb = cluster.ConnectionString("ledger_bench");
var baselineDb = new NpgsqlConnectionStringBuilder(cluster.ConnectionString("baseline_bench")) { MaxPoolSize = 100 }.ConnectionString;

const string key = "benchmark-signing-key-0123456789abcdefghij";
const string issuer = "compensation-ledger-bench";
await using var service = await RunningService.StartAsync(ledgerDb, key, issuer, new Dictionary<string, string>
{
    // The buyers' guessing limits would throttle a load test from one address: lifted for the benchmark only.
    ["Ledger__StatusLookup__PerClientPerMinute"] = "100000000",
    ["Logging__LogLevel__Default"] = "Warning",
});
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
var credentials = new (string Reference, string Code)[filings * 3];
var run = 0;

// 1. Filing claims over HTTP, 1, 8 and 32 clients, against the same rows written by raw SQL.
foreach (var clients in new[] { 1, 8, 32 })
{
    var offset = run++ * filings;
    results.Add(await Measure.Run("file claim", "service (HTTP)", clients, filings, async i =>
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
    }));
    results.Add(await Measure.Run("file claim", "baseline (raw SQL)", clients, filings, i => Baseline.FileClaim(baselineDb, offset + i)));
    Console.Error.WriteLine($"bench: filing at {clients} client(s) done");
}

// 4. Buyers' status lookups at 8 and 32 clients, against a raw SELECT by key.
var buyerClient = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = service.BaseAddress };
foreach (var clients in new[] { 8, 32 })
{
    results.Add(await Measure.Run("status lookup", "service (HTTP)", clients, lookups, async i =>
    {
        var (reference, code) = credentials[i % credentials.Length];
        using var response = await buyerClient.PostJson("/api/status-lookups", new { reference, accessCode = code });
        if ((int)response.StatusCode != 200) throw new InvalidOperationException($"Lookup {reference}: {(int)response.StatusCode}");
        await response.Content.ReadAsByteArrayAsync();
    }));
    results.Add(await Measure.Run("status lookup", "baseline (raw SQL)", clients, lookups, i => Baseline.LookUp(baselineDb, i % credentials.Length)));
    Console.Error.WriteLine($"bench: lookups at {clients} clients done");
}

// 7. The service's peak resident memory over the whole run.
var peakRssMb = PeakRssMegabytes(service.ProcessId);

Report.Write(outDir, smoke, results, peakRssMb);
Console.Error.WriteLine($"bench: results written to {outDir}");
return 0;

static double PeakRssMegabytes(int pid)
{
    var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
    return line is null ? double.NaN : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
}

static string RepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "CompensationLedger.sln"))) return dir.FullName;
    return Directory.GetCurrentDirectory();
}
