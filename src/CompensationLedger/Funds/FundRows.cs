using System.Collections.Immutable;
using CompensationLedger.Reports;
using Marten;

namespace CompensationLedger.Funds;

/// <summary>
/// What a money decision reads besides the fund's snapshot: the rows of the entitlements and payouts it decides on. The snapshot
/// keeps the books (pools, policies, rounds, deposits, statement ids) and neither (<see cref="Fund.Entitlements"/>,
/// <see cref="Fund.Payouts"/>); each row (<c>fund_entitlements</c>, <c>report_payouts</c>) is written in the same transaction as the
/// event that changes it, so a row read after the snapshot is at least as new as the snapshot, and a row newer than it means another
/// decision committed after the stream was read: <see cref="AtVersionAsync"/>, called once the rows are read, then makes the decision
/// a concurrent change (409), as its append would have been with everything in the snapshot.
/// </summary>
public static class FundRows
{
    /// <summary>
    /// The fund with the payout and every payout of its reissue chain (what it reissued, and what reissued it) from their rows, or the
    /// fund as it is when the payout is not the fund's (the decision then refuses it as not found).
    /// </summary>
    public static async Task<Fund> WithPayoutChainAsync(IQuerySession session, Fund fund, Guid payoutId, CancellationToken ct)
    {
        var table = PayoutViews.Table(session);
        return With(fund, await ReadAsync(session,
            $"""
             with recursive back as (
                 select payout_id, reissue_of from {table} where payout_id = @payout and fund_id = @fund
                 union all
                 select p.payout_id, p.reissue_of from {table} p join back b on p.payout_id = b.reissue_of
             ), forward as (
                 select payout_id from {table} where payout_id = @payout and fund_id = @fund
                 union all
                 select p.payout_id from {table} p join forward f on p.reissue_of = f.payout_id
             )
             select {PayoutViews.Columns} from {table}
             where fund_id = @fund and payout_id in (select payout_id from back union select payout_id from forward)
             """, ct, ("payout", payoutId), ("fund", fund.Id)));
    }

    /// <summary>The fund with its payouts whose references are among <paramref name="references"/> (ignoring case, as a bank statement is matched).</summary>
    public static async Task<Fund> WithPayoutsByReferenceAsync(IQuerySession session, Fund fund, IEnumerable<string> references, CancellationToken ct)
    {
        var wanted = references.Select(r => r.ToUpperInvariant()).Distinct(StringComparer.Ordinal).ToArray();
        if (wanted.Length == 0) return fund;
        return With(fund, await ReadAsync(session,
            $"select {PayoutViews.Columns} from {PayoutViews.Table(session)} where fund_id = @fund and upper(reference) = any(@references)",
            ct, ("fund", fund.Id), ("references", wanted)));
    }

    /// <summary>
    /// The fund unchanged, once its rows are read, if its stream is still at the version of its snapshot; else the decision is a
    /// concurrent change (409, as its append would be). Rows read after another decision committed are newer than the snapshot: an
    /// accepted decision would fail its append, but a refusal appends nothing, so without this check it could refuse on a mix of the
    /// two (ten approvals of one reissue at once: the losers said "claim not owed", half of what the winner had changed). The stream
    /// only moves forward, so the version read after the rows being the snapshot's means no commit came in between.
    /// </summary>
    /// <param name="readAt">The version the stream was read at for writing (Marten's check on append); the snapshot's own where it is not at hand.</param>
    public static async Task<Fund> AtVersionAsync(IQuerySession session, Fund fund, long? readAt, CancellationToken ct)
    {
        var version = await ReportSql.ReadAsync(session, $"select version from {session.DocumentStore.Options.Events.DatabaseSchemaName}.mt_streams where id = @fund",
            r => r.GetInt64(0), ct, ("fund", fund.Id));
        return version.Count == 1 && version[0] == (readAt ?? fund.Version) ? fund : throw new JasperFx.ConcurrencyException(typeof(Fund), fund.Id);
    }

    /// <summary>The fund with every entitlement of the buyers still owed money: all that a round's preparation weighs.</summary>
    public static async Task<Fund> WithBuyersStillOwedAsync(IQuerySession session, Fund fund, CancellationToken ct) =>
        With(fund, await EntitlementRows.OfBuyersStillOwedAsync(session, fund.Id, ct));

    /// <summary>The fund with the entitlements of these claims.</summary>
    public static async Task<Fund> WithEntitlementsOfAsync(IQuerySession session, Fund fund, IReadOnlyCollection<Guid> claimIds, CancellationToken ct) =>
        claimIds.Count == 0 ? fund : With(fund, await EntitlementRows.OfClaimsAsync(session, fund.Id, claimIds, ct));

    /// <summary>The fund with every entitlement of the buyers of these claims (the cap per buyer weighs all of a buyer's claims).</summary>
    public static async Task<Fund> WithBuyersOfAsync(IQuerySession session, Fund fund, IReadOnlyCollection<Guid> claimIds, CancellationToken ct) =>
        claimIds.Count == 0 ? fund : With(fund, await EntitlementRows.OfBuyersOfAsync(session, fund.Id, claimIds, ct));

    /// <summary>
    /// The fund with the payout and its reissue chain (<see cref="WithPayoutChainAsync"/>) and every entitlement of the buyers its
    /// claims belong to: what reissuing it weighs (each claim still owed its part, the buyer's cap).
    /// </summary>
    public static async Task<Fund> WithPayoutAndBuyersAsync(IQuerySession session, Fund fund, Guid payoutId, CancellationToken ct)
    {
        fund = await WithPayoutChainAsync(session, fund, payoutId, ct);
        return fund.Payouts.TryGetValue(payoutId, out var payout)
            ? await WithBuyersOfAsync(session, fund, payout.PerClaim.Select(l => l.ClaimId).Distinct().ToArray(), ct)
            : fund;
    }

    /// <summary>The fund with the entitlements of the claims a prepared round allocates to (its release pays each buyer once).</summary>
    public static async Task<Fund> WithRoundClaimsAsync(IQuerySession session, Fund fund, Guid roundId, CancellationToken ct) =>
        fund.Rounds.TryGetValue(roundId, out var round)
            ? await WithEntitlementsOfAsync(session, fund, round.Allocations.Select(a => a.ClaimId).Distinct().ToArray(), ct)
            : fund;

    /// <summary>What the fund holds already (loaded before, or changed by the decision) wins over the rows.</summary>
    private static Fund With(Fund fund, ImmutableDictionary<Guid, Entitlement> entitlements) =>
        entitlements.Count == 0 ? fund : fund with { Entitlements = entitlements.SetItems(fund.Entitlements) };

    private static Fund With(Fund fund, IReadOnlyList<Payout> payouts) =>
        payouts.Count == 0 ? fund : fund with { Payouts = fund.Payouts.SetItems(payouts.Select(p => KeyValuePair.Create(p.Id, p))) };

    private static async Task<IReadOnlyList<Payout>> ReadAsync(IQuerySession session, string sql, CancellationToken ct, params (string, object)[] parameters)
    {
        var serializer = session.DocumentStore.Options.Serializer();
        // A row without its payout is from before migrations/0013, which fills them (outside Production the service fills them on start).
        return await ReportSql.ReadAsync(session, sql, r => PayoutViews.ReadPayout(r, serializer)?.Payout ?? throw PayoutViews.Unfilled(r.GetGuid(8)), ct, parameters);
    }
}
