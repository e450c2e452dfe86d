using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Funds;

public static class ReleaseRoundEndpoint
{
    /// <summary>
    /// Four eyes: the releaser is not the preparer. Each buyer's allocations in the round (over all their
    /// claims and pools) become one payout, with a unique reference (<c>PO-{fund}-{round}-{n}</c>), numbered
    /// in the order of each buyer's first claim reference.
    /// </summary>
    public static Decision Decide(Fund fund, Guid roundId, Func<Guid> newPayoutId, string by, Instant now)
    {
        if (!fund.Rounds.TryGetValue(roundId, out var round))
            return new Refusal("round-not-found", $"There is no round with id {roundId}.", StatusCodes.Status404NotFound);
        if (round.Status != RoundStatus.Prepared)
            return Decision.Refuse("round-not-prepared", $"Round {round.Number} is {round.Status.ToString().ToLowerInvariant()}; only a prepared round can be released.");
        if (string.Equals(round.PreparedBy, by, StringComparison.OrdinalIgnoreCase))
            return Decision.Refuse("four-eyes", $"{by} prepared round {round.Number}; another finance user must release it.");

        // Defensive: a prepared round's money is set aside, so this holds unless the books are broken.
        foreach (var pool in round.Allocations.GroupBy(a => a.PoolId))
            if (fund.Pools[pool.Key].Allocated < pool.Sum(a => a.Amount.Amount))
                return Decision.Refuse("pool-exhausted", $"Pool {fund.Pools[pool.Key].Name} no longer holds what round {round.Number} set aside.");

        // One payout per buyer (DOMAIN.md: one transfer to one buyer): the buyer's claims' allocations, line by claim and pool,
        // so settling or returning it still says which claims and pools the money belongs to.
        var payouts = round.Allocations
            .GroupBy(a => fund.Entitlements[a.ClaimId].Payee)
            .Select(buyer => (Buyer: buyer.Key, Allocations: buyer.OrderBy(a => a.ClaimReference, StringComparer.Ordinal).ThenBy(a => a.ClaimId).ToList()))
            .OrderBy(b => b.Allocations[0].ClaimReference, StringComparer.Ordinal).ThenBy(b => b.Allocations[0].ClaimId)
            .Select((buyer, i) =>
            {
                var claimLines = buyer.Allocations.Select(a => new PayoutLine(a.ClaimId, a.ClaimReference, a.PoolId, a.Amount)).ToArray();
                return new PayoutIssued(newPayoutId(), PayoutReference(fund, round.Number, i + 1), null, null, PayoutLines.PerPool(claimLines),
                    PayoutLines.Total(claimLines), fund.Entitlements[buyer.Allocations[0].ClaimId].BuyerKey, claimLines);
            })
            .ToArray();
        return Decision.Accept(new RoundReleased(fund.Id, roundId, payouts, by, now));
    }

    public static string FundCode(Guid fundId) => fundId.ToString("N")[^8..].ToUpperInvariant();

    public static string PayoutReference(Fund fund, int round, int n) => $"PO-{FundCode(fund.Id)}-{round:D3}-{n:D5}";

    [WolverinePost("/api/rounds/{roundId}/release", Name = "ReleaseRound")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Release a prepared round (not by its preparer)")]
    public static async Task<IResult> Post(Guid roundId, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct) =>
        await FundStreams.Decide(session, roundId, FundIndexKind.Round, ct, (fund, now) => Decide(fund, roundId, Guid.CreateVersion7, user.StaffName(), now),
            clock, updated => TypedResults.Ok(RoundView.From(updated, updated.Rounds[roundId])),
            fund => FundRows.WithRoundClaimsAsync(session, fund, roundId, ct));
}
