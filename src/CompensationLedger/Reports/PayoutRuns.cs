using CompensationLedger.Funds;
using JasperFx.Events;

namespace CompensationLedger.Reports;

/// <summary>
/// How the inline report projections split one transaction's events so that a bank statement or a batch of returns, thousands of
/// <see cref="PayoutSettled"/> (or <see cref="PayoutReturned"/>) events in one unit of work, is written with a few set-based statements
/// per table instead of several statements per payout (issue #7: the statement settling 10,000 payouts queued ~40,000 commands,
/// ran at 0.04x of the raw SQL and set the service's peak memory).
/// <para>
/// A <b>run</b> is consecutive events of one of those two types whose keys (the payout, or the claims it pays) do not repeat
/// within it: a key that repeats starts a new run, so every row is changed at most once per statement and the runs, applied in
/// order, change each row in the order of its events, as applying the events one by one does. Anything else, and a run of one,
/// is applied event by event by the projection's own methods.
/// </para>
/// </summary>
public static class PayoutRuns
{
    /// <summary>The smallest run written set-based: one event is cheaper through its own statements.</summary>
    public const int Minimum = 2;

    /// <summary>
    /// Queued before a transaction's first run: no JIT compilation for the rest of that transaction. The planner's row estimates for
    /// the runs' data-modifying CTEs are far off (312,500,000 rows for 10,000), which pushes their cost over <c>jit_above_cost</c>, and
    /// compiling took 712 ms of the 1,006 ms the claims' statement ran at 10,000 payouts (auto_explain, PROFILING.md).
    /// </summary>
    public const string NoJit = "set local jit = off";

    public static bool IsPayoutClosing(IEvent e) => e.Data is PayoutSettled or PayoutReturned;

    /// <summary>
    /// A projection's inline entry point over <see cref="Split"/>: each run to <paramref name="projectRun"/> (with <see cref="NoJit"/>
    /// queued once before the transaction's first run), every other event to <paramref name="applyOne"/> (the projection's own dispatch).
    /// </summary>
    public static async Task ApplyAsync(Marten.IDocumentOperations operations, IEnumerable<StreamAction> streams, Func<IEvent, IEnumerable<Guid>> keys,
        Action<IReadOnlyList<IEvent>, Marten.IDocumentOperations> projectRun, Func<IEvent, ValueTask> applyOne)
    {
        var jitOff = false;
        foreach (var stream in streams)
            foreach (var (events, isRun) in Split(stream.Events, keys))
                if (isRun)
                {
                    if (!jitOff) operations.QueueSqlCommand(NoJit);
                    jitOff = true;
                    projectRun(events, operations);
                }
                else await applyOne(events[0]);
    }

    /// <summary>
    /// The events in order, each part either a run (<paramref name="IsRun"/> true: two or more payout settlements, or two or more returns,
    /// with distinct keys) or a single event.
    /// </summary>
    public static IEnumerable<(IReadOnlyList<IEvent> Events, bool IsRun)> Split(IReadOnlyList<IEvent> events, Func<IEvent, IEnumerable<Guid>> keys)
    {
        var run = new List<IEvent>();
        var seen = new HashSet<Guid>();
        foreach (var e in events)
        {
            if (IsPayoutClosing(e))
            {
                var own = keys(e).Distinct().ToList();
                if (run.Count > 0 && (run[0].Data.GetType() != e.Data.GetType() || own.Any(seen.Contains)))
                    foreach (var part in Flush(run, seen)) yield return part;
                run.Add(e);
                seen.UnionWith(own);
                continue;
            }
            foreach (var part in Flush(run, seen)) yield return part;
            yield return ([e], false);
        }
        foreach (var part in Flush(run, seen)) yield return part;
    }

    private static IEnumerable<(IReadOnlyList<IEvent>, bool)> Flush(List<IEvent> run, HashSet<Guid> seen)
    {
        if (run.Count == 0) yield break;
        var events = run.ToArray();
        run.Clear();
        seen.Clear();
        if (events.Length >= Minimum) yield return (events, true);
        else foreach (var e in events) yield return ([e], false);
    }
}
