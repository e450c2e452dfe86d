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
    /// Projections rebuilt at once by <see cref="RebuildManyAsync"/>: two, as many as the cores this service is sized for. Each rebuild
    /// is one reader and one writer (a .NET fold and PostgreSQL's parsing and indexing), so two overlap one's CPU with the other's;
    /// every projection writes only its own tables, so their rebuilds are independent.
    /// </summary>
    public const int Concurrency = 2;

    /// <summary>
    /// The projections whose rebuilds take longest, longest first (measured one at a time at a million events, PROFILING.md): started
    /// first, so that the short ones fill the gaps at the end instead of the long ones running alone. <c>Fund</c> leads: its documents
    /// are folded one fund stream after the other, the longest single task (27-30 s against Claim's 19 s, ClaimTotals' 17-20 s and
    /// FundReports' 12 s); the small lookup projections follow in any order.
    /// </summary>
    private static readonly string[] LongestFirst =
    [
        SnapshotRebuild<Funds.Fund>.ProjectionName, SnapshotRebuild<Claims.Claim>.ProjectionName, ClaimTotalsProjection.ProjectionName, FundReportProjection.ProjectionName,
    ];

    /// <summary><paramref name="names"/> in the order <see cref="RebuildManyAsync"/> starts them: the longest first, the rest as given.</summary>
    public static IReadOnlyList<string> InRebuildOrder(IEnumerable<string> names) =>
        [.. names.Distinct().Select((name, i) => (name, i)).OrderBy(n => Array.IndexOf(LongestFirst, n.name) is var rank and >= 0 ? rank : LongestFirst.Length + n.i).Select(n => n.name)];

    /// <summary>How one projection's rebuild in <see cref="RebuildManyAsync"/> ended: not started (cancelled before its turn), done, or failed.</summary>
    public sealed record Outcome(string Name, TimeSpan Elapsed, bool Started, Exception? Failure)
    {
        public bool Done => Started && Failure is null;
    }

    /// <summary>
    /// Rebuilds <paramref name="names"/>, <paramref name="concurrency"/> at a time, the longest first (<see cref="InRebuildOrder"/>),
    /// sharing one projection daemon (one per database is Marten's rule). A failure ends that projection's rebuild only (a swap-in
    /// rebuild then leaves its live tables as they were); the others go on. <paramref name="ct"/> cancels the running ones and keeps
    /// the rest from starting. <paramref name="finished"/> hears of each as it ends. Returns the outcomes in <see cref="InRebuildOrder"/>'s order.
    /// </summary>
    public static async Task<IReadOnlyList<Outcome>> RebuildManyAsync(IDocumentStore store, IReadOnlyList<string> names, int concurrency, TimeSpan timeout,
        Action<string>? log, CancellationToken ct, JasperFx.Events.Daemon.IProjectionDaemon? daemon = null, Action<Outcome>? finished = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        var ordered = InRebuildOrder(names);
        using var own = daemon is null && ordered.Any(n => !SwappedIn.ContainsKey(n)) ? await store.BuildProjectionDaemonAsync() : null;
        daemon ??= own;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var slots = new SemaphoreSlim(concurrency);
        var outcomes = await Task.WhenAll(ordered.Select(async name =>
        {
            try
            {
                await slots.WaitAsync(ct);
            }
            catch (OperationCanceledException)
            {
                return Report(new Outcome(name, TimeSpan.Zero, Started: false, null));
            }
            try
            {
                var one = System.Diagnostics.Stopwatch.StartNew();
                var left = timeout - clock.Elapsed;
                try
                {
                    await RebuildAsync(store, name, left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1), log, ct, daemon);
                    return Report(new Outcome(name, one.Elapsed, Started: true, null));
                }
                catch (Exception e)
                {
                    return Report(new Outcome(name, one.Elapsed, Started: true, e));
                }
            }
            finally
            {
                slots.Release();
            }
        }));
        return outcomes;

        Outcome Report(Outcome outcome)
        {
            finished?.Invoke(outcome);
            return outcome;
        }
    }

    /// <summary>
    /// The command: <paramref name="names"/> are projection names (none: all), rebuilt <see cref="Concurrency"/> at a time. Marten's
    /// <c>projections rebuild</c> with only <c>-p NAME</c> options comes here too, so that the tables swapped in are never rebuilt in
    /// place under a running service. Exits 1 when any failed (each failure is printed; the others were rebuilt).
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
        var chosen = InRebuildOrder(names.Count == 0 ? all : names);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Console.Error.WriteLineAsync($"rebuild: {string.Join(", ", chosen)} ({Math.Min(Concurrency, chosen.Count)} at a time) ...");
        var outcomes = await RebuildManyAsync(store, chosen, Concurrency, TimeSpan.FromHours(2), line => Console.Error.WriteLine("rebuild: " + line), ct,
            finished: o => Console.Error.WriteLine(o switch
            {
                { Started: false } => $"rebuild: {o.Name} not started (cancelled)",
                { Failure: { } e } => $"rebuild: {o.Name} FAILED after {o.Elapsed.TotalSeconds:0.0} s, its read model left as it was: {e.Message}",
                _ => $"rebuild: {o.Name} done in {o.Elapsed.TotalSeconds:0.0} s",
            }));
        var failed = outcomes.Where(o => !o.Done).Select(o => o.Name).ToList();
        await Console.Error.WriteLineAsync(failed.Count == 0
            ? $"rebuild: all {outcomes.Count} done in {clock.Elapsed.TotalSeconds:0.0} s"
            : $"rebuild: {failed.Count} of {outcomes.Count} not rebuilt ({string.Join(", ", failed)}) in {clock.Elapsed.TotalSeconds:0.0} s");
        return failed.Count == 0 ? 0 : 1;
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
