using System.Diagnostics;

namespace CompensationLedger.Benchmarks;

/// <summary>One measured run: how many operations, how long, and the latency of each.</summary>
public sealed record Measurement(string Scenario, string Path, int Clients, int Operations, double Seconds, double P50Ms, double P95Ms, double P99Ms)
{
    public double PerSecond => Operations / Seconds;
}

public static class Measure
{
    /// <summary>
    /// Runs <paramref name="operations"/> calls of <paramref name="operation"/> (given the operation's
    /// index) on <paramref name="clients"/> concurrent workers, and times each call and the whole.
    /// </summary>
    public static async Task<Measurement> Run(string scenario, string path, int clients, int operations, Func<int, Task> operation)
    {
        var latencies = new double[operations];
        var next = -1;
        var total = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < operations)
            {
                var one = Stopwatch.StartNew();
                await operation(i);
                latencies[i] = one.Elapsed.TotalMilliseconds;
            }
        }));
        total.Stop();
        Array.Sort(latencies);
        return new Measurement(scenario, path, clients, operations, total.Elapsed.TotalSeconds,
            Percentile(latencies, 0.50), Percentile(latencies, 0.95), Percentile(latencies, 0.99));
    }

    /// <summary>
    /// One call at a time, <paramref name="maxOperations"/> calls or until <paramref name="budget"/> is spent (at least
    /// three calls), for slow operations whose latency percentiles matter more than their count.
    /// </summary>
    public static async Task<Measurement> RunFor(string scenario, string path, int maxOperations, TimeSpan budget, Func<int, Task> operation)
    {
        var latencies = new List<double>();
        var total = Stopwatch.StartNew();
        for (var i = 0; i < maxOperations && (i < 3 || total.Elapsed < budget); i++)
        {
            var one = Stopwatch.StartNew();
            await operation(i);
            latencies.Add(one.Elapsed.TotalMilliseconds);
        }
        total.Stop();
        var sorted = latencies.Order().ToArray();
        return new Measurement(scenario, path, 1, sorted.Length, total.Elapsed.TotalSeconds,
            Percentile(sorted, 0.50), Percentile(sorted, 0.95), Percentile(sorted, 0.99));
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
