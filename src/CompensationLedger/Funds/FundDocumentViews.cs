using System.Collections.Immutable;
using CompensationLedger.Cases;
using CompensationLedger.Reports;
using Marten;
using NodaTime;

namespace CompensationLedger.Funds;

/// <summary>
/// The fund, round and entitlement views, from the fund's snapshot and the rows of its entitlements and payouts. The snapshot keeps
/// neither (<see cref="Fund.Entitlements"/>, <see cref="Fund.Payouts"/>); one written before it stopped holding them is read with
/// <c>data - 'payouts' - 'entitlements'</c>, so they never leave PostgreSQL (49 MB at 47,000 claims). The fund view sums the
/// entitlements' rows in SQL (<see cref="EntitlementRows.TotalsAsync"/>) and takes each released round's total from the snapshot
/// (<see cref="Round.ReleasedTotal"/>); the entitlement list pages their rows in SQL; the round view reads the round's payouts' rows
/// (<see cref="PayoutViews"/>). The integration tests hold each view equal to the view of the fund folded from its events.
/// </summary>
public static class FundDocumentViews
{
    public static async Task<FundView?> FundAsync(IQuerySession session, Guid fundId, Instant now, CancellationToken ct) =>
        await ReadAsync(session, fundId, ct) is { } fund ? await ViewOfAsync(session, fund, now, ct) : null;

    /// <summary>
    /// The view of a fund as a decision just left it (its events not yet committed: a policy version added, a case covered), which
    /// holds no payouts and only the entitlements it loaded: the entitlements' totals from their rows, under the policy the
    /// decision left in force (the cap per buyer may have changed), and a released round's total from its payouts' rows where
    /// the snapshot does not keep it; such a decision changes neither.
    /// </summary>
    public static async Task<FundView> ViewOfAsync(IQuerySession session, Fund fund, Instant now, CancellationToken ct)
    {
        // Each released round's total and count are kept in the snapshot since they were (Round.ReleasedTotal); only a snapshot from
        // before sums them from the payout rows.
        var unkept = fund.Rounds.Values.Any(r => Fund.AllocationsFromPayouts(r) && r.ReleasedTotal is null);
        var released = unkept ? await ReleasedRoundsAsync(session, fund.Id, ct) : new Dictionary<Guid, (decimal, int)>();
        var entitlements = await EntitlementRows.TotalsAsync(session, fund, now, ct);
        return FundView.From(fund, now, r =>
            Fund.AllocationsFromPayouts(r) && r.ReleasedTotal is null
                ? released.TryGetValue(r.Id, out var x) ? RoundSummary.From(fund, r, x.Total, x.Allocations) : RoundSummary.From(fund, r, 0m, 0)
                : RoundSummary.From(fund, r), entitlements);
    }

    /// <summary>The round with its payouts, or null when there is no such round.</summary>
    public static async Task<RoundView?> RoundAsync(IQuerySession session, Guid roundId, CancellationToken ct)
    {
        if (await FundStreams.FundOf(session, roundId, FundIndexKind.Round, ct) is not { } fundId) return null;
        if (await ReadAsync(session, fundId, ct) is not { } fund || !fund.Rounds.TryGetValue(roundId, out var round)) return null;
        if (round.Status != RoundStatus.Released) return RoundView.From(fund, round, id => throw new InvalidOperationException($"Round {round.Number} has no payouts."));
        var payouts = await PayoutViews.OfRoundAsync(session, roundId, ct);
        var byId = payouts.ToDictionary(p => p.Id);
        return RoundView.From(fund, round with { PayoutIds = [.. payouts.Select(p => p.Id)] }, id => byId[id]);
    }

    /// <summary>
    /// A page of the fund's entitlements (<see cref="EntitlementRows.PageAsync"/>), or null when there is no such fund. What a round
    /// prepared now could commit to each claim on the page depends on its buyer's other claims (the cap per buyer): those are read
    /// for the page's buyers only.
    /// </summary>
    public static async Task<PagedList<EntitlementView>?> EntitlementsAsync(IQuerySession session, Guid fundId, bool stillOwed, int page, int pageSize, Instant now,
        CancellationToken ct)
    {
        if (await ReadAsync(session, fundId, ct) is not { } fund) return null;
        var (items, total) = await EntitlementRows.PageAsync(session, fundId, stillOwed, page, pageSize, ct);
        var buyers = await FundRows.WithBuyersOfAsync(session, fund, items.Select(e => e.ClaimId).ToArray(), ct);
        var payable = BuyerCap.PayableNow(buyers, now);
        return new PagedList<EntitlementView>(items.Select(e => EntitlementView.From(fund, e, payable)).ToArray(), page, pageSize, total);
    }

    /// <summary>The fund's snapshot (without the entitlements and payouts a snapshot from before holds), or null when there is none.</summary>
    private static async Task<Fund?> ReadAsync(IQuerySession session, Guid fundId, CancellationToken ct)
    {
        var options = session.DocumentStore.Options;
        var serializer = options.Serializer();
        var funds = options.FindOrResolveDocumentType(typeof(Fund)).TableName.QualifiedName;
        var rows = await ReportSql.ReadAsync(session, $"select f.data - 'payouts' - 'entitlements' from {funds} f where f.id = @fund",
            r => serializer.FromJson<Fund>(r, 0), ct, ("fund", fundId));
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>
    /// Each released round's allocation total and count from its payouts' rows (a reissue is outside its round's list, as in
    /// <see cref="Fund.AllocationsOf(Round)"/>): for rounds released before the snapshot kept them (<see cref="Round.ReleasedTotal"/>).
    /// </summary>
    private static async Task<IReadOnlyDictionary<Guid, (decimal Total, int Allocations)>> ReleasedRoundsAsync(IQuerySession session, Guid fundId, CancellationToken ct)
    {
        var options = session.DocumentStore.Options;
        // A payout's claim lines are its allocations: stored as claimLines, or for a payout of one claim as its per-pool lines.
        var claimLines = ReportSql.JsonName(options.Serializer(), nameof(Payout.ClaimLines));
        var rows = await ReportSql.ReadAsync(session,
            $"""
             select p.round_id, sum(p.amount),
                    sum(case when jsonb_typeof(p.issued -> '{claimLines}') = 'array' then jsonb_array_length(p.issued -> '{claimLines}')
                             when jsonb_typeof(p.issued -> 'lines') = 'array' then jsonb_array_length(p.issued -> 'lines')
                             else 0 end)::int
             from {options.DatabaseSchemaName}.{FundReportProjection.PayoutsTable} p where p.fund_id = @fund and p.reissue_of is null
             group by p.round_id
             """,
            r => (Round: r.GetGuid(0), Total: r.GetDecimal(1), Allocations: r.GetInt32(2)), ct, ("fund", fundId));
        return rows.ToDictionary(r => r.Round, r => (r.Total, r.Allocations));
    }
}
