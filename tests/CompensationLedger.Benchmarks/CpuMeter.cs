using System.Diagnostics;
using System.Globalization;

namespace CompensationLedger.Benchmarks;

/// <summary>
/// CPU seconds used so far by the service, by PostgreSQL (the postmaster and its backends, living and exited) and by this
/// process (the clients), read from <c>/proc</c>. The difference of two readings over a measured run, divided by its operations,
/// says where an operation's CPU goes on the shared cores: the figure that bounds a CPU-bound ratio.
/// </summary>
public sealed record CpuReading(double Service, double Server, double Client)
{
    public static CpuReading Take(int servicePid, string dataDirectory)
    {
        var postmaster = int.Parse(File.ReadLines(Path.Combine(dataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);
        // An exited backend's CPU is in the postmaster's cutime/cstime once reaped; a living one's in its own utime/stime.
        var server = Stat(postmaster) is { } p ? p.Own + p.Children : 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == postmaster) continue;
            if (Stat(pid) is { } child && child.Parent == postmaster) server += child.Own;
        }
        return new CpuReading(ProcessSeconds(servicePid), server, Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds);
    }

    /// <summary>One process's own CPU seconds so far (utime + stime).</summary>
    public static double ProcessSeconds(int pid) => Stat(pid)?.Own ?? 0;

    public CpuReading Since(CpuReading before) => new(Service - before.Service, Server - before.Server, Client - before.Client);

    /// <summary>Per operation, in milliseconds: "service 2.10 ms, PostgreSQL 1.20 ms, clients 0.40 ms".</summary>
    public string PerOperation(int operations, bool service)
    {
        var server = string.Create(CultureInfo.InvariantCulture, $"PostgreSQL {Server * 1000 / operations:0.00} ms, clients {Client * 1000 / operations:0.00} ms");
        return service ? string.Create(CultureInfo.InvariantCulture, $"service {Service * 1000 / operations:0.00} ms, {server}") : server;
    }

    private static (int Parent, double Own, double Children)? Stat(int pid)
    {
        string text;
        try { text = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (IOException) { return null; } // gone between the listing and the read
        catch (UnauthorizedAccessException) { return null; }
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        double Ticks(int i) => long.Parse(fields[i], CultureInfo.InvariantCulture) / 100.0;
        return (int.Parse(fields[1], CultureInfo.InvariantCulture), Ticks(11) + Ticks(12), Ticks(13) + Ticks(14));
    }
}
