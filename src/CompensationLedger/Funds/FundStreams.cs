using CompensationLedger.Infrastructure;
using Marten;
using Marten.Events.Projections;
using NodaTime;

namespace CompensationLedger.Funds;

public enum FundIndexKind { Round, Payout }

/// <summary>
/// Which fund a round belongs to, so <c>/api/rounds/{roundId}</c> finds the fund's stream. A payout's fund is its row of the payout
/// register's table (<see cref="Reports.FundReportProjection"/>'s <c>report_payouts</c>, kept inline in the same transaction as the
/// release or reissue): writing an index document per payout as well was 10,000 upserts in the transaction of a 10,000-payout
/// release (issue #7). Entries of kind <see cref="FundIndexKind.Payout"/> written before that are no longer read.
/// </summary>
public sealed record FundIndexEntry(Guid Id, Guid FundId, FundIndexKind Kind);

/// <summary>Kept inline: the entry is written in the same transaction as the event that creates the round.</summary>
public sealed partial class FundIndexProjection : EventProjection
{
    /// <summary>A rebuild starts from an empty index, so nothing stale survives it.</summary>
    public FundIndexProjection() => Options.DeleteViewTypeOnTeardown<FundIndexEntry>();

    public static void Project(RoundPrepared e, IDocumentOperations ops) => ops.Store(new FundIndexEntry(e.RoundId, e.FundId, FundIndexKind.Round));
}

public static class FundStreams
{
    /// <summary>
    /// Runs a money decision on the fund that owns a round or payout: reads the fund's stream for
    /// writing (FetchForWriting), decides, appends. Marten commits only if the stream is still at the
    /// version read, so of two concurrent decisions one commits and the other is a 409; nothing reads
    /// an asynchronous projection. The decision gets the fund with the rows it weighs (<paramref name="read"/>).
    /// </summary>
    /// <param name="read">
    /// The rows the decision needs besides the snapshot (<see cref="FundRows"/>); by default, for a payout, the payout and its reissue
    /// chain, for a round nothing.
    /// </param>
    public static async Task<IResult> Decide(IDocumentSession session, Guid id, FundIndexKind kind, CancellationToken ct,
        Func<Fund, Instant, Decision> decide, IClock clock, Func<Fund, IResult> answer, Func<Fund, Task<Fund>>? read = null)
    {
        if (await FundOf(session, id, kind, ct) is not { } fundId)
            return Problems.NotFound(kind == FundIndexKind.Round ? "Round" : "Payout", id).ToResult();
        var stream = await session.Events.FetchForWriting<Fund>(fundId, ct);
        var fund = stream.Aggregate!;
        // The snapshot keeps no entitlements or payouts: a decision reads the ones it weighs from their rows (FundRows).
        read ??= kind == FundIndexKind.Payout ? f => FundRows.WithPayoutChainAsync(session, f, id, ct) : null;
        if (read is not null) fund = await FundRows.AtVersionAsync(session, await read(fund), stream.CurrentVersion, ct);
        var decision = decide(fund, clock.GetCurrentInstant());
        if (decision.Refusal is { } refusal) return refusal.ToProblem().ToResult();
        stream.AppendMany(decision.Events);
        return answer(Fund.Fold(fund, decision.Events)!);
    }

    /// <summary>The fund a round (its index entry) or a payout (its register row) belongs to; null when there is none.</summary>
    public static async Task<Guid?> FundOf(IQuerySession session, Guid id, FundIndexKind kind, CancellationToken ct)
    {
        if (kind == FundIndexKind.Round)
        {
            var entry = await session.LoadAsync<FundIndexEntry>(id, ct);
            return entry is { Kind: FundIndexKind.Round } ? entry.FundId : null;
        }
        var funds = await session.QueryAsync<Guid>(
            $"select fund_id from {session.DocumentStore.Options.DatabaseSchemaName}.{Reports.FundReportProjection.PayoutsTable} where payout_id = ?", ct, id);
        return funds.Count == 0 ? null : funds[0];
    }
}
