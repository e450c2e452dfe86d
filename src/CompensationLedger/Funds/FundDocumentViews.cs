using System.Collections.Immutable;
using CompensationLedger.Cases;
using CompensationLedger.Reports;
using Marten;
using NodaTime;

namespace CompensationLedger.Funds;

/// <summary>
/// The fund, round and entitlement views, from the fund's snapshot and the rows of its entitlements and payouts. The snapshot keeps
/// neither (<see cref="Fund.Entitlements"/>, <see cref="Fund.Payouts"/>); one written before it stopped holding them is read with
/// <c>data - 'payouts' - 'entitlements'</c>, so they never leave PostgreSQL (49 MB at 47,000 claims). The fund and entitlement views
/// read every entitlement's row (<see cref="EntitlementRows"/>: their totals and the cap per buyer weigh them all). The payouts
/// matter only for a released round (its allocations are its payouts' claim lines) and a round's payout list, and their rows hold
/// them (<see cref="PayoutViews"/>): the fund view gets each released round's total and allocation count from the rows in the same
/// statement as the snapshot. The integration tests hold each view equal to the view of the fund folded from its events.
/// </summary>
public static class FundDocumentViews
{
    public static async Task<FundView?> FundAsync(IQuerySession session, Guid fundId, Instant now, CancellationToken ct)
    {
        var read = await ReadAsync(session, fundId, ct, withReleasedRounds: true);
        if (read is null) return null;
        var (fund, released) = read.Value;
        return View(fund, released, now, await EntitlementRows.TotalsAsync(session, fund, now, ct));
    }

    /// <summary>
    /// The view of a fund as a decision just left it (its events not yet committed: a policy version added, a case covered), which
    /// holds no payouts and only the entitlements it loaded: each released round's total from its payouts' rows and the other
    /// entitlements from theirs, which such a decision does not change.
    /// </summary>
    public static async Task<FundView> ViewOfAsync(IQuerySession session, Fund updated, Instant now, CancellationToken ct)
    {
        var read = await ReadAsync(session, updated.Id, ct, withReleasedRounds: true);
        // The totals under the policy the decision left in force (the cap per buyer may have changed).
        return View(updated, read?.Released ?? new Dictionary<Guid, (decimal, int)>(), now, await EntitlementRows.TotalsAsync(session, updated, now, ct));
    }

    private static FundView View(Fund fund, IReadOnlyDictionary<Guid, (decimal Total, int Allocations)> released, Instant now, EntitlementTotals entitlements) =>
        FundView.From(fund, now, r =>
            Fund.AllocationsFromPayouts(r)
                ? released.TryGetValue(r.Id, out var x) ? RoundSummary.From(fund, r, x.Total, x.Allocations) : RoundSummary.From(fund, r, 0m, 0)
                : RoundSummary.From(fund, r), entitlements);

    /// <summary>The round with its payouts, or null when there is no such round.</summary>
    public static async Task<RoundView?> RoundAsync(IQuerySession session, Guid roundId, CancellationToken ct)
    {
        if (await FundStreams.FundOf(session, roundId, FundIndexKind.Round, ct) is not { } fundId) return null;
        var read = await ReadAsync(session, fundId, ct);
        if (read is null || !read.Value.Fund.Rounds.TryGetValue(roundId, out var round)) return null;
        var fund = read.Value.Fund;
        var payouts = await PayoutViews.ManyAsync(session, round.PayoutIds, ct);
        return RoundView.From(fund, round, id => payouts[id]);
    }

    /// <summary>
    /// A page of the fund's entitlements (<see cref="EntitlementRows.PageAsync"/>), or null when there is no such fund. What a round
    /// prepared now could commit to each claim on the page depends on its buyer's other claims (the cap per buyer): those are read
    /// for the page's buyers only.
    /// </summary>
    public static async Task<PagedList<EntitlementView>?> EntitlementsAsync(IQuerySession session, Guid fundId, bool stillOwed, int page, int pageSize, Instant now,
        CancellationToken ct)
    {
        if ((await ReadAsync(session, fundId, ct))?.Fund is not { } fund) return null;
        var (items, total) = await EntitlementRows.PageAsync(session, fundId, stillOwed, page, pageSize, ct);
        var buyers = await FundRows.WithBuyersOfAsync(session, fund, items.Select(e => e.ClaimId).ToArray(), ct);
        var payable = BuyerCap.PayableNow(buyers, now);
        return new PagedList<EntitlementView>(items.Select(e => EntitlementView.From(fund, e, payable)).ToArray(), page, pageSize, total);
    }

    /// <summary>
    /// The snapshot without its payouts, and for the fund view (<paramref name="withReleasedRounds"/>) each released round's
    /// allocation total and count from its payouts' rows (a reissue is outside its round's list, as in
    /// <see cref="Fund.AllocationsOf(Round)"/>). The round and entitlement views skip that aggregate over every payout of the fund.
    /// </summary>
    private static async Task<(Fund Fund, IReadOnlyDictionary<Guid, (decimal Total, int Allocations)> Released)?> ReadAsync(
        IQuerySession session, Guid fundId, CancellationToken ct, bool withReleasedRounds = false)
    {
        var options = session.DocumentStore.Options;
        var serializer = options.Serializer();
        var funds = options.FindOrResolveDocumentType(typeof(Fund)).TableName.QualifiedName;
        var payouts = $"{options.DatabaseSchemaName}.{FundReportProjection.PayoutsTable}";
        string Member(string name) => ReportSql.JsonName(serializer, name);
        // A payout's claim lines are its allocations: stored as claimLines, or for a payout of one claim as its per-pool lines.
        var claimLines = Member(nameof(Payout.ClaimLines));
        var releasedRounds = withReleasedRounds
            ? $"""
               select array_agg(r.round_id) as rounds, array_agg(r.total) as totals, array_agg(r.allocations) as allocations
               from (select p.round_id, sum(p.amount) as total,
                            sum(case when jsonb_typeof(p.issued -> '{claimLines}') = 'array' then jsonb_array_length(p.issued -> '{claimLines}')
                                     when jsonb_typeof(p.issued -> 'lines') = 'array' then jsonb_array_length(p.issued -> 'lines')
                                     else 0 end)::int as allocations
                     from {payouts} p where p.fund_id = f.id and p.reissue_of is null
                     group by p.round_id) r
               """
            : "select null::uuid[] as rounds, null::numeric[] as totals, null::int[] as allocations";
        var rows = await ReportSql.ReadAsync(session,
            $"""
             select f.data - 'payouts' - 'entitlements', g.rounds, g.totals, g.allocations
             from {funds} f
             cross join lateral ({releasedRounds}) g
             where f.id = @fund
             """,
            r =>
            {
                var fund = serializer.FromJson<Fund>(r, 0);
                var released = new Dictionary<Guid, (decimal, int)>();
                if (!r.IsDBNull(1))
                {
                    var rounds = r.GetFieldValue<Guid[]>(1);
                    var totals = r.GetFieldValue<decimal[]>(2);
                    var allocations = r.GetFieldValue<int[]>(3);
                    for (var i = 0; i < rounds.Length; i++) released[rounds[i]] = (totals[i], allocations[i]);
                }
                return (fund, (IReadOnlyDictionary<Guid, (decimal, int)>)released);
            },
            ct, ("fund", fundId));
        return rows.Count == 0 ? null : rows[0];
    }
}
