namespace CompensationLedger.Funds;

/// <summary>
/// The policy's optional cap per buyer: the most one buyer is paid in total, over all their claims, rounds and reissues.
/// <para>
/// Applied where money is committed (a round's allocations, a reissue's approval), not when an entitlement is recorded.
/// Why: the rule is about what a buyer is paid, and at commitment the fund sees, at one stream version, everything already
/// set aside, in transit or settled for the buyer, so the check cannot race; it does not depend on the order in which a
/// buyer's claims happened to be approved (each entitlement stays what the policy gives the claim, as its determination
/// letter says); and a returned payout frees the room it used. The cap is the one in the policy in force at the
/// commitment (as the minimum payment is): a later, lower cap pays a buyer nothing more, it never claws back.
/// </para>
/// </summary>
public static class BuyerCap
{
    /// <summary>What the buyer (<paramref name="payee"/>) may still be committed under the cap; null when the policy has no cap per buyer.</summary>
    public static decimal? Room(Fund fund, string payee, PolicyVersion? policy) =>
        policy?.CapPerBuyer is { } cap
            ? RoomUnder(cap, fund.Entitlements.Values.Where(e => e.Payee == payee).Sum(e => e.Committed))
            : null;

    private static decimal RoomUnder(Money cap, decimal committed) => Math.Max(0m, cap.Amount - committed);

    /// <summary>
    /// What each claim still owed may receive in a round under the cap: each buyer's room goes to their claims in claim
    /// reference order (filing order: the earliest claim first), so the split is the same whatever order the claims were
    /// approved in. Claims left with nothing are dropped.
    /// </summary>
    public static IReadOnlyList<(Entitlement Claim, decimal Owed)> Owed(Fund fund, PolicyVersion policy)
    {
        var owed = new List<(Entitlement, decimal)>();
        // Each buyer's committed total in one pass, not a scan per buyer: a round stays linear in the claims.
        var committed = policy.CapPerBuyer is null ? null
            : fund.Entitlements.Values.GroupBy(e => e.Payee).ToDictionary(g => g.Key, g => g.Sum(e => e.Committed));
        foreach (var buyer in fund.Entitlements.Values.Where(e => e.StillOwed > 0m).GroupBy(e => e.Payee))
        {
            decimal? room = policy.CapPerBuyer is { } cap ? RoomUnder(cap, committed![buyer.Key]) : null;
            foreach (var claim in buyer.OrderBy(e => e.ClaimReference, StringComparer.Ordinal).ThenBy(e => e.ClaimId))
            {
                var share = room is { } left ? Math.Min(claim.StillOwed, left) : claim.StillOwed;
                if (room is not null) room -= share;
                if (share > 0m) owed.Add((claim, share));
            }
        }
        return owed;
    }

    /// <summary>
    /// What a round prepared now could commit to each claim still owed: <see cref="Owed"/> under the policy in force, or
    /// the claim's whole <see cref="Entitlement.StillOwed"/> when no policy is in force. A claim absent from the answer can be
    /// paid nothing more (its buyer has reached the cap, or nothing is owed).
    /// </summary>
    public static IReadOnlyDictionary<Guid, decimal> PayableNow(Fund fund, NodaTime.Instant now) =>
        fund.PolicyInForce(now) is { } policy
            ? Owed(fund, policy).ToDictionary(x => x.Claim.ClaimId, x => x.Owed)
            : fund.Entitlements.Values.Where(e => e.StillOwed > 0m).ToDictionary(e => e.ClaimId, e => e.StillOwed);
}
