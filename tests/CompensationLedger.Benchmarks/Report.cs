using System.Globalization;
using System.Text;
using System.Text.Json;

namespace CompensationLedger.Benchmarks;

/// <summary>Writes the results as a Markdown table (for people) and JSON (for tools), with the date, the machine, the sizes and the notes.</summary>
public static class Report
{
    public static void Write(string folder, string name, string title, IReadOnlyList<Measurement> results, IReadOnlyDictionary<string, double> peakRssMb,
        IReadOnlyDictionary<string, object> sizes, IReadOnlyList<string> notes, IReadOnlyList<Micro.Result> micro, TimeSpan took)
    {
        Directory.CreateDirectory(folder);
        var machine = Machine();
        var stamp = NodaTime.Text.InstantPattern.CreateWithInvariantCulture("uuuu'-'MM'-'dd HH':'mm 'UTC'").Format(NodaTime.SystemClock.Instance.GetCurrentInstant());

        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Benchmark results ({title})");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Run {stamp} on {machine}; the whole run took {took.TotalMinutes:0.0} min. PostgreSQL 15, throwaway cluster with durable settings (fsync on), same server for service and baseline.");
        md.AppendLine();
        md.AppendLine("Sizes: " + string.Join(", ", sizes.Select(s => $"{s.Key} {s.Value}")) + ".");
        md.AppendLine();
        if (results.Count > 0)
        {
            md.AppendLine("| scenario | path | clients | ops | ops/s | p50 ms | p95 ms | p99 ms | ops/s ÷ baseline's |");
            md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in results)
            {
                var baseline = results.FirstOrDefault(b => b.Scenario == r.Scenario && b.Clients == r.Clients && b.Path.StartsWith("baseline", StringComparison.Ordinal));
                var ratio = !r.Path.StartsWith("baseline", StringComparison.Ordinal) && baseline is not null ? (r.PerSecond / baseline.PerSecond).ToString("0.00", CultureInfo.InvariantCulture) : "";
                md.AppendLine(CultureInfo.InvariantCulture, $"| {r.Scenario} | {r.Path} | {r.Clients} | {r.Operations} | {r.PerSecond:0} | {r.P50Ms:0.0} | {r.P95Ms:0.0} | {r.P99Ms:0.0} | {ratio} |");
            }
            md.AppendLine();
            md.AppendLine("For a whole timed once (a bulk import, a round, a rebuild) ops is the rows or events it handled and the latency columns hold its duration. The ratio is a path's ops/s over the baseline's (1.00 = as fast as the raw SQL); \"same rows as the service\" is a second baseline, the service's own rows by raw SQL, so the service's ratio to it is what the service's code costs and its own ratio what the service's data model costs.");
            md.AppendLine();
        }
        foreach (var (service, mb) in peakRssMb)
            md.AppendLine(CultureInfo.InvariantCulture, $"Peak RSS (VmHWM) of the {service}: {mb:0} MB.");
        if (peakRssMb.Count > 0) md.AppendLine();
        if (notes.Count > 0)
        {
            md.AppendLine("## Notes");
            md.AppendLine();
            foreach (var note in notes) md.AppendLine("- " + note);
            md.AppendLine();
        }
        if (micro.Count > 0)
        {
            md.AppendLine("## Micro-benchmarks (BenchmarkDotNet, in process, short job)");
            md.AppendLine();
            md.AppendLine("| benchmark | parameters | mean | std dev | allocated |");
            md.AppendLine("|---|---|---:|---:|---:|");
            foreach (var m in micro)
                md.AppendLine(CultureInfo.InvariantCulture, $"| {m.Benchmark} | {m.Parameters} | {Micro.Format(m.MeanNs)} | {Micro.Format(m.StdDevNs)} | {m.AllocatedBytes / 1024.0:N1} KiB |");
            md.AppendLine();
        }
        File.WriteAllText(Path.Combine(folder, $"{name}.md"), md.ToString());

        var json = JsonSerializer.Serialize(new
        {
            run = stamp,
            title,
            machine,
            minutes = took.TotalMinutes,
            sizes,
            peakRssMb,
            results = results.Select(r => new { r.Scenario, r.Path, r.Clients, r.Operations, r.Seconds, opsPerSecond = r.PerSecond, r.P50Ms, r.P95Ms, r.P99Ms }),
            notes,
            micro = micro.Select(m => new { m.Benchmark, m.Parameters, meanNs = m.MeanNs, stdDevNs = m.StdDevNs, allocatedBytes = m.AllocatedBytes }),
        }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
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
