using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CompensationLedger.Benchmarks;

/// <summary>Writes the results as a Markdown table (for people) and JSON (for tools), with the date and the machine.</summary>
public static class Report
{
    public static void Write(string folder, bool smoke, IReadOnlyList<Measurement> results, double peakRssMb)
    {
        Directory.CreateDirectory(folder);
        var machine = Machine();
        var stamp = NodaTime.Text.InstantPattern.CreateWithInvariantCulture("uuuu'-'MM'-'dd HH':'mm 'UTC'").Format(NodaTime.SystemClock.Instance.GetCurrentInstant());
        var name = smoke ? "smoke" : "latest";

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Benchmark results ({(smoke ? "smoke run: small sizes, not for reading speed" : "full run")})");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Run {stamp} on {machine}. PostgreSQL 15, throwaway cluster with durable settings (fsync on), same server for service and baseline.");
        md.AppendLine();
        md.AppendLine("| scenario | path | clients | ops | ops/s | p50 ms | p95 ms | p99 ms | service / baseline |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in results)
        {
            var baseline = results.FirstOrDefault(b => b.Scenario == r.Scenario && b.Clients == r.Clients && b.Path.StartsWith("baseline", StringComparison.Ordinal));
            var ratio = r.Path.StartsWith("service", StringComparison.Ordinal) && baseline is not null ? (r.PerSecond / baseline.PerSecond).ToString("0.00", CultureInfo.InvariantCulture) : "";
            md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Scenario} | {r.Path} | {r.Clients} | {r.Operations} | {r.PerSecond:0} | {r.P50Ms:0.0} | {r.P95Ms:0.0} | {r.P99Ms:0.0} | {ratio} |");
        }
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Service peak RSS (VmHWM) over the run: {peakRssMb:0} MB.");
        File.WriteAllText(Path.Combine(folder, $"{name}.md"), md.ToString());

        var json = JsonSerializer.Serialize(new { run = stamp, smoke, machine, peakRssMb, results = results.Select(r => new { r.Scenario, r.Path, r.Clients, r.Operations, r.Seconds, opsPerSecond = r.PerSecond, r.P50Ms, r.P95Ms, r.P99Ms }) },
            new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase });
        File.WriteAllText(Path.Combine(folder, $"{name}.json"), json);
        Console.WriteLine(md.ToString());
    }

    private static string Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
            : "unknown CPU";
        var memory = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]
            : "0";
        var gib = double.Parse(memory, CultureInfo.InvariantCulture) / 1024 / 1024;
        return $"{Environment.ProcessorCount} cores ({cpu}), {gib:0} GiB RAM, .NET {Environment.Version}";
    }
}
