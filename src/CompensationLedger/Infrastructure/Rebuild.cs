using CompensationLedger.Reports;
using Marten;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// Rebuilds read models from the events: <c>dotnet run --project src/CompensationLedger -- rebuild [NAME ...]</c> (every projection
/// when no name is given; <c>projections list</c> shows the names). The paid-vs-lost tables (<see cref="ClaimTotalsProjection"/>)
/// and the fund report tables (<see cref="FundReportProjection"/>) are folded in memory, built beside the live ones and swapped in
/// (<see cref="ClaimTotalsRebuild"/>, <see cref="FundReportsRebuild"/>), and so are the snapshots the service decides on (claims,
/// funds, cases, fund terms: <see cref="SnapshotRebuild{T}"/>), safe while the service records decisions and money; the other
/// projections (small lookup documents) go through Marten's projection daemon, with the settings of <see cref="ProjectionRebuilds"/>.
/// The tests and the benchmark rebuild through here too, so what they measure is what operators run.
/// </summary>
public static class LedgerRebuild
{
    public const string Command = "rebuild";

    /// <summary>The projections rebuilt beside their live tables and swapped in, by name; the others go through Marten's daemon.</summary>
    private static readonly Dictionary<string, Func<IDocumentStore, Action<string>?, CancellationToken, Task>> SwappedIn = new()
    {
        [ClaimTotalsProjection.ProjectionName] = ClaimTotalsRebuild.RunAsync,
        [FundReportProjection.ProjectionName] = FundReportsRebuild.RunAsync,
        [SnapshotRebuild<Claims.Claim>.ProjectionName] = SnapshotRebuild<Claims.Claim>.RunAsync,
        [SnapshotRebuild<Funds.Fund>.ProjectionName] = SnapshotRebuild<Funds.Fund>.RunAsync,
        [SnapshotRebuild<Cases.FraudCase>.ProjectionName] = SnapshotRebuild<Cases.FraudCase>.RunAsync,
        [SnapshotRebuild<Funds.FundTerms>.ProjectionName] = SnapshotRebuild<Funds.FundTerms>.RunAsync,
    };

    /// <summary>Every registered projection's name, as <c>rebuild</c> and Marten's <c>projections rebuild -p</c> take it.</summary>
    public static IReadOnlyList<string> AllNames(IDocumentStore store) =>
        [.. ((StoreOptions)store.Options).Projections.AllProjectionNames().Select(n => n.Trim('\''))];

    /// <summary>
    /// Rebuilds one projection; <paramref name="timeout"/> bounds a daemon rebuild (the swap-in rebuilds stop with
    /// <paramref name="ct"/>). Rebuilds run side by side share one <paramref name="daemon"/> (one per database is Marten's rule).
    /// </summary>
    public static async Task RebuildAsync(IDocumentStore store, string name, TimeSpan timeout, Action<string>? log, CancellationToken ct,
        JasperFx.Events.Daemon.IProjectionDaemon? daemon = null)
    {
        if (SwappedIn.TryGetValue(name, out var swapIn))
        {
            await swapIn(store, log, ct);
            return;
        }
        if (daemon is not null)
        {
            await daemon.RebuildProjectionAsync(name, timeout, ct);
            return;
        }
        using var own = await store.BuildProjectionDaemonAsync();
        await own.RebuildProjectionAsync(name, timeout, ct);
    }

    /// <summary>
    /// The command: <paramref name="names"/> are projection names (none: all). Marten's <c>projections rebuild</c> with only
    /// <c>-p NAME</c> options comes here too, so that the tables swapped in are never rebuilt in place under a running service.
    /// </summary>
    public static async Task<int> RunAsync(IServiceProvider services, IReadOnlyList<string> names, CancellationToken ct)
    {
        var store = services.GetRequiredService<IDocumentStore>();
        var all = AllNames(store);
        var unknown = names.Except(all, StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            await Console.Error.WriteLineAsync($"Unknown projection {string.Join(", ", unknown)}. The projections: {string.Join(", ", all)}.");
            return 2;
        }
        foreach (var name in names.Count == 0 ? all : names.Distinct())
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await Console.Error.WriteLineAsync($"rebuild: {name} ...");
            await RebuildAsync(store, name, TimeSpan.FromHours(2), line => Console.Error.WriteLine("rebuild: " + line), ct);
            await Console.Error.WriteLineAsync($"rebuild: {name} done in {clock.Elapsed.TotalSeconds:0.0} s");
        }
        return 0;
    }

    /// <summary>
    /// The projection names of <c>projections rebuild [-p NAME]...</c>, or null when the arguments are not only that (then Marten's
    /// command runs as it is).
    /// </summary>
    public static IReadOnlyList<string>? MartenRebuildNames(string[] args)
    {
        if (args is not ["projections", "rebuild", .. var rest]) return null;
        var names = new List<string>();
        for (var i = 0; i < rest.Length; i += 2)
        {
            if (rest[i] is not ("-p" or "--projection") || i + 1 >= rest.Length) return null;
            names.Add(rest[i + 1]);
        }
        return names;
    }
}
