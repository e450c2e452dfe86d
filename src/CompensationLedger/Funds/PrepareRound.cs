using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Funds;

/// <summary>Prepare a distribution round over every pool's available money. The round shows each allocation; another finance user releases it.</summary>
public sealed record PrepareRound(string? Note = null);

public static class PrepareRoundEndpoint
{
    public static ProblemDetails Validate(PrepareRound command) =>
        new Validation().Text("note", command.Note, Validation.TextLength, required: false).ToProblem();

    /// <summary>
    /// Allocates (sets aside) each pool's available money to what claims are still owed, by
    /// <see cref="Allocation.PlanRound"/> under the policy in force now, each buyer held to the cap per
    /// buyer (<see cref="BuyerCap"/>). Money set aside by a round
    /// that is prepared but not released is no longer available, so two rounds can never promise the same money.
    /// </summary>
    public static Decision Decide(Fund fund, Guid roundId, string by, Instant now)
    {
        var policy = fund.PolicyInForce(now);
        if (policy is null)
            return Decision.Refuse("no-policy-in-force", $"No policy version is in force on {now.InUtc().Date:yyyy-MM-dd}.");
        if (!fund.Entitlements.Values.Any(e => e.StillOwed > 0m)) return Decision.Refuse("nothing-owed", "No approved claim is still owed money.");
        var claims = BuyerCap.Owed(fund, policy)
            .Select(c => new OwedClaim(c.Claim.ClaimId, c.Claim.ClaimReference, c.Owed, fund.PerpetratorPoolFor(c.Claim)?.Id))
            .ToList();
        if (claims.Count == 0)
            return Decision.Refuse("buyer-cap-reached", $"Every buyer still owed money has been paid (or set aside) the cap per buyer, {policy.CapPerBuyer}.");
        var pools = fund.Pools.Values.OrderBy(p => p.Sequence).Select(p => new PoolFunds(p.Id, p.Kind, p.Available)).ToList();
        var plan = Allocation.PlanRound(pools, claims, policy.MinimumPayment.Amount, policy.GeneralPoolBacksPerpetratorPools, fund.MinorUnits);
        if (plan.Allocations.Count == 0)
            return Decision.Refuse("nothing-to-allocate",
                plan.Carried.Count > 0
                    ? $"Every allocation would be below the minimum payment of {policy.MinimumPayment}; the money stays in the pools."
                    : "The pools that pay the claims still owed have no money available.",
                new Dictionary<string, object?> { ["carried"] = plan.Carried.Count });
        return Decision.Accept(new RoundPrepared(fund.Id, roundId, fund.Rounds.Count + 1, policy.Version,
            plan.Allocations.Select(a => new RoundAllocation(a.ClaimId, a.ClaimReference, a.PoolId, fund.Money(a.Amount))).ToArray(),
            plan.Carried.Select(c => new CarriedAllocation(c.ClaimId, c.ClaimReference, fund.Money(c.Amount))).ToArray(),
            by, now));
    }

    [WolverinePost("/api/funds/{fundId}/rounds", Name = "PrepareRound")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Prepare a distribution round (shows every allocation before release)")]
    public static async Task<(IResult, Events)> Post(
        PrepareRound command,
        [WriteAggregate("fundId", OnMissing = OnMissing.ProblemDetailsWith404)] Fund fund,
        IDocumentSession session,
        ClaimsPrincipal user,
        IClock clock,
        CancellationToken ct)
    {
        var roundId = Guid.CreateVersion7();
        // A round weighs the claims still owed and, for the cap per buyer, everything committed to their buyers: read from their rows
        // (the snapshot keeps none, FundRows). Claims owed nothing, and their buyers' other claims, change nothing in a round.
        fund = await FundRows.AtVersionAsync(session, await FundRows.WithBuyersStillOwedAsync(session, fund, ct), null, ct);
        return FundResponses.Respond(fund, Decide(fund, roundId, user.StaffName(), clock.GetCurrentInstant()),
            updated => TypedResults.Created($"/api/rounds/{roundId}", RoundView.From(updated, updated.Rounds[roundId])));
    }
}
