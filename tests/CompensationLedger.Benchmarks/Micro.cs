using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using NodaTime;

namespace CompensationLedger.Benchmarks;

/// <summary>
/// BenchmarkDotNet micro-benchmarks of the hot pure code: pro-rata allocation and round planning
/// (src/CompensationLedger/Funds/Allocation.cs), money arithmetic, and what every write to the fund's
/// stream costs today: folding one more entitlement into the fund and serializing its inline snapshot
/// (the whole document, every entitlement in it), and reading a bulk import's CSV. Run in process (no per-benchmark project build) with a
/// short job, so they fit in the one command; the smoke run uses a dry job (one call each: it checks they run).
/// </summary>
public static class Micro
{
    public sealed record Result(string Benchmark, string Parameters, double MeanNs, double StdDevNs, long AllocatedBytes);

    public static IReadOnlyList<Result> Run(bool smoke, string artifacts)
    {
        var job = (smoke ? Job.Dry : Job.ShortRun.WithWarmupCount(1).WithIterationCount(3))
            .WithToolchain(InProcessEmitToolchain.Instance);
        var config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddColumnProvider(DefaultColumnProviders.Instance)
            .AddDiagnoser(BenchmarkDotNet.Diagnosers.MemoryDiagnoser.Default)
            .AddLogger(ConsoleLogger.Default)
            .WithArtifactsPath(artifacts)
            .WithOptions(ConfigOptions.DisableLogFile | ConfigOptions.JoinSummary);
        var summaries = BenchmarkRunner.Run([typeof(AllocationBenchmarks), typeof(MoneyBenchmarks), typeof(FundSnapshotBenchmarks), typeof(ImportCsvBenchmarks)], config);
        var results = new List<Result>();
        foreach (var summary in summaries)
            foreach (var report in summary.Reports)
            {
                var bench = report.BenchmarkCase;
                var name = $"{bench.Descriptor.Type.Name}.{bench.Descriptor.WorkloadMethod.Name}";
                var parameters = string.Join(", ", bench.Parameters.Items.Select(p => $"{p.Name}={p.Value}"));
                var stats = report.ResultStatistics;
                results.Add(new Result(name, parameters, stats?.Mean ?? double.NaN, stats?.StandardDeviation ?? double.NaN,
                    report.GcStats.GetBytesAllocatedPerOperation(bench) ?? 0));
            }
        if (results.Count == 0 || results.Any(r => double.IsNaN(r.MeanNs)))
            throw new InvalidOperationException("A micro-benchmark did not run (see the BenchmarkDotNet log above).");
        return results;
    }

    public static string Format(double ns) => ns switch
    {
        < 1_000 => string.Create(CultureInfo.InvariantCulture, $"{ns:0.0} ns"),
        < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{ns / 1_000:0.0} µs"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{ns / 1_000_000:0.00} ms"),
    };
}

[MemoryDiagnoser]
public class AllocationBenchmarks
{
    private Claimant[] _claimants = [];
    private OwedClaim[] _claims = [];
    private PoolFunds[] _pools = [];

    [Params(1_000, 10_000)]
    public int Claims { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _claimants = Enumerable.Range(0, Claims)
            .Select(i => new Claimant(Guid.CreateVersion7(), $"CL-2026-{i:D6}-0", 100m + i % 900 + 0.37m)).ToArray();
        var perpetrators = Enumerable.Range(0, 3).Select(_ => Guid.CreateVersion7()).ToArray();
        _pools = [new PoolFunds(Guid.CreateVersion7(), PoolKind.General, Claims * 300m), .. perpetrators.Select(p => new PoolFunds(p, PoolKind.Perpetrator, Claims * 20m))];
        _claims = _claimants.Select((c, i) => new OwedClaim(c.ClaimId, c.TieBreak, c.Owed, i % 4 == 3 ? null : perpetrators[i % 3])).ToArray();
    }

    /// <summary>Not enough money: every claimant gets the same fraction, leftover minor units to the largest remainders.</summary>
    [Benchmark]
    public int ProRata() => Allocation.ProRata(Claims * 250m, _claimants, 2).Count;

    /// <summary>A round over a general pool and three perpetrator pools, general backing perpetrators, with a minimum payment.</summary>
    [Benchmark]
    public int PlanRound() => Allocation.PlanRound(_pools, _claims, 5m, true, 2).Allocations.Count;
}

[MemoryDiagnoser]
public class MoneyBenchmarks
{
    private readonly Money[] _amounts = Enumerable.Range(0, 1_000).Select(i => Money.Of(10m + i % 97 + 0.25m, "USD")).ToArray();
    private readonly decimal[] _raw = Enumerable.Range(0, 1_000).Select(i => 1400.00m * 0.7m + i * 0.001m).ToArray();

    /// <summary>Summing 1,000 amounts with the currency check of <c>Money.operator +</c>.</summary>
    [Benchmark]
    public Money Sum1000()
    {
        var total = Money.Zero("USD");
        foreach (var m in _amounts) total += m;
        return total;
    }

    /// <summary>1,000 validated constructions (currency lookup and scale check).</summary>
    [Benchmark]
    public decimal Of1000()
    {
        var sum = 0m;
        foreach (var m in _amounts) sum += Money.Of(m.Amount, "USD").Amount;
        return sum;
    }

    /// <summary>1,000 entitlement roundings (the policy's one rounding).</summary>
    [Benchmark]
    public decimal Round1000()
    {
        var sum = 0m;
        foreach (var d in _raw) sum += Money.RoundedHalfAwayFromZero(d, "USD").Amount;
        return sum;
    }
}

/// <summary>
/// The cost of one more write on a fund holding N entitlements: the fold is O(log N) (immutable
/// dictionary), but the inline snapshot Marten stores after every append is the whole fund, O(N).
/// </summary>
[MemoryDiagnoser]
public class FundSnapshotBenchmarks
{
    private Fund _fund = null!;
    private EntitlementRecorded _next = null!;
    private JsonSerializerOptions _json = null!;

    [Params(1_000, 10_000)]
    public int Entitlements { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _json = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        _json.ConfigureLedgerJson();
        var now = Instant.FromUtc(2026, 11, 1, 9, 0);
        var fundId = Guid.CreateVersion7();
        var fund = Fund.Create(EstablishFundEndpoint.Decide(fundId, new EstablishFund("Bench Fund", "Alibaba.com", "USD", ["Alibaba.com"],
            new PolicyTerms(new LocalDate(2026, 1, 1), 0.70m, Money.Of(1_000m, "USD"), Money.Of(0m, "USD"), 90, 30, 60)), "bench", now));
        var entitlements = ImmutableDictionary.CreateBuilder<Guid, Entitlement>();
        for (var i = 0; i < Entitlements; i++)
        {
            var id = Guid.CreateVersion7();
            entitlements[id] = new Entitlement(id, $"CL-2026-{i:D6}-0", Guid.Empty, "Alibaba.com", "cnbench", "US", 700m + i % 300, 0m, 0m, 0m);
        }
        _fund = fund with { Entitlements = entitlements.ToImmutable() };
        _next = new EntitlementRecorded(fundId, Guid.CreateVersion7(), "CL-2026-999999-0", Guid.Empty, "Alibaba.com", "cnbench", "US", Money.Of(700m, "USD"), "bench", now);
    }

    [Benchmark]
    public int FoldOneEntitlement() => Fund.Fold(_fund, _next)!.Entitlements.Count;

    [Benchmark]
    public int SerializeSnapshot() => JsonSerializer.SerializeToUtf8Bytes(_fund, _json).Length;
}

/// <summary>
/// Reading a bulk import's file (scenario 3): the import reads it twice, once to refuse a broken file before anything is written
/// and once to file, so every microsecond per row here is paid twice per row of a 100,000-row import.
/// </summary>
[MemoryDiagnoser]
public class ImportCsvBenchmarks
{
    private byte[] _file = [];
    private Dictionary<string, int> _columns = null!;
    private readonly Guid _caseId = Guid.CreateVersion7();

    [Params(10_000)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _file = BulkCsvFile.Build(Rows, new LocalDate(2026, 11, 25));
        _columns = CompensationLedger.Claims.ClaimCsv.ReadHeader(Encoding.UTF8.GetString(_file, 0, _file.AsSpan().IndexOf((byte)'\r')).Split(',')).Index!;
    }

    /// <summary>The first pass (the whole file checked as CSV).</summary>
    [Benchmark]
    public async Task<int> ReadRecords()
    {
        var csv = CompensationLedger.Claims.CsvReader.Utf8(new MemoryStream(_file));
        var rows = 0;
        while (await csv.ReadAsync() is not null) rows++;
        return rows;
    }

    /// <summary>The second pass: records into filing commands, validated.</summary>
    [Benchmark]
    public async Task<int> ReadClaims()
    {
        var csv = CompensationLedger.Claims.CsvReader.Utf8(new MemoryStream(_file));
        await csv.ReadAsync();
        var valid = 0;
        while (await csv.ReadAsync() is { } record)
            if (CompensationLedger.Claims.ClaimCsv.ReadRow(_caseId, _columns, record).Command is not null) valid++;
        return valid;
    }
}
