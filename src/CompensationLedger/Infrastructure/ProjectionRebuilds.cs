using Marten.Events.Projections;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// How Marten's projection daemon replays the events when a projection is rebuilt (<c>projections rebuild</c>,
/// RebuildAllProjectionsTests, the benchmark's scenario 5). Every projection here is inline, so these settings touch only
/// rebuilds, never a write. Applied to every registered projection, so a projection added later gets them too: call it
/// after the last registration.
/// <para>
/// Measured on the benchmark's generated ledger (tests/CompensationLedger.Benchmarks/PROFILING.md): with Marten's defaults
/// (pages of 500 events, each page committed on its own, each aggregate re-read from its table and written back on every
/// page) the <c>Fund</c> snapshot, one growing document per fund, was deserialized and serialized whole every 500 events and
/// never finished; the claim snapshots and totals lines were written once per page they appear in.
/// </para>
/// </summary>
public static class ProjectionRebuilds
{
    /// <summary>Events fetched and applied per page: fewer, larger transactions (each commit is an fsync).</summary>
    public const int PageSize = 5_000;

    /// <summary>
    /// Aggregates (snapshots, totals lines) kept in memory while a rebuild replays, written once each when this many are
    /// dirty or at the end (Marten's <c>RebuildFlushThreshold</c>): a fund's snapshot is written once per rebuild instead of
    /// once per page. Bounded, so memory stays bounded however many claims there are.
    /// </summary>
    public const int FlushEveryAggregates = 10_000;

    public static void Tune(ProjectionOptions projections)
    {
        foreach (var projection in projections.All)
        {
            projection.Options.BatchSize = PageSize;
            projection.Options.MaximumHopperSize = 4 * PageSize;
            projection.Options.RebuildFlushThreshold = FlushEveryAggregates;
        }
    }
}
