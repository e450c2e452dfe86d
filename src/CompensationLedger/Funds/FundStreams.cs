using CompensationLedger.Infrastructure;
using Marten;
using Marten.Events.Projections;
using NodaTime;

namespace CompensationLedger.Funds;

public enum FundIndexKind { Round, Payout }

/// <summary>Which fund a round or payout belongs to, so <c>/api/rounds/{roundId}</c> and <c>/api/payouts/{payoutId}</c> find the fund's stream.</summary>
public sealed record FundIndexEntry(Guid Id, Guid FundId, FundIndexKind Kind);

/// <summary>Kept inline: the entry is written in the same transaction as the event that creates the round or payout.</summary>
public sealed partial class FundIndexProjection : EventProjection
{
    /// <summary>A rebuild starts from an empty index, so nothing stale survives it.</summary>
    public FundIndexProjection() => Options.DeleteViewTypeOnTeardown<FundIndexEntry>();

    public static void Project(RoundPrepared e, IDocumentOperations ops) => ops.Store(new FundIndexEntry(e.RoundId, e.FundId, FundIndexKind.Round));

    public static void Project(RoundReleased e, IDocumentOperations ops) =>
        ops.Store(e.Payouts.Select(p => new FundIndexEntry(p.PayoutId, e.FundId, FundIndexKind.Payout)).ToArray());

    public static void Project(PayoutReissued e, IDocumentOperations ops) => ops.Store(new FundIndexEntry(e.PayoutId, e.FundId, FundIndexKind.Payout));
}

public static class FundStreams
{
    /// <summary>
    /// Runs a money decision on the fund that owns a round or payout: reads the fund's stream for
    /// writing (FetchForWriting), decides, appends. Marten commits only if the stream is still at the
    /// version read, so of two concurrent decisions one commits and the other is a 409; nothing reads
    /// an asynchronous projection.
    /// </summary>
    public static async Task<IResult> Decide(IDocumentSession session, Guid id, FundIndexKind kind, CancellationToken ct,
        Func<Fund, Instant, Decision> decide, IClock clock, Func<Fund, IResult> answer)
    {
        var entry = await session.LoadAsync<FundIndexEntry>(id, ct);
        if (entry is null || entry.Kind != kind)
            return Problems.NotFound(kind == FundIndexKind.Round ? "Round" : "Payout", id).ToResult();
        var stream = await session.Events.FetchForWriting<Fund>(entry.FundId, ct);
        var fund = stream.Aggregate!;
        var decision = decide(fund, clock.GetCurrentInstant());
        if (decision.Refusal is { } refusal) return refusal.ToProblem().ToResult();
        stream.AppendMany(decision.Events);
        return answer(decision.Events.Aggregate(fund, (state, e) => Fund.Fold(state, e)!));
    }

    public static async Task<Fund?> OwnerOf(IQuerySession session, Guid id, FundIndexKind kind, CancellationToken ct)
    {
        var entry = await session.LoadAsync<FundIndexEntry>(id, ct);
        return entry is null || entry.Kind != kind ? null : await session.LoadAsync<Fund>(entry.FundId, ct);
    }
}
