using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Claims;

/// <summary>Erase the buyer's personal data at their request. The body is empty (<c>{}</c>).</summary>
public sealed record EraseBuyerData;

public static class EraseBuyerDataEndpoint
{
    /// <summary>
    /// Possible in any state: the events hold no personal data, so erasing means deleting the
    /// <see cref="BuyerDetails"/> document and recording that it happened; amounts, decisions and
    /// payouts are untouched. The duplicate fingerprint keeps only a hash of the name, so a second
    /// claim for the same payment is still caught.
    /// </summary>
    public static Decision Decide(Claim claim, string handler, Instant now) =>
        claim.BuyerDataErased
            ? Decision.Refuse("already-erased", $"The buyer's personal data of claim {claim.Reference} was already erased.")
            : Decision.Accept(new ClaimBuyerDataErased(claim.Id, handler, now));

    [WolverinePost("/api/claims/{claimId}/buyer-erasure", Name = "EraseBuyerData")]
    [Authorize(Roles = Roles.ClaimsHandler)]
    [Tags("Claims")]
    [RequiresExpectedVersion]
    [ProducesResponseType<Claim>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status412PreconditionFailed, "application/problem+json")]
    [EndpointSummary("Erase the buyer's personal data at their request (send If-Match: \"<version>\"); the claim's events and money stay")]
    public static (IResult, Events) Post(
        EraseBuyerData command,
        [WriteAggregate("claimId", OnMissing = OnMissing.ProblemDetailsWith404)] Claim claim,
        IDocumentSession session,
        HttpRequest request,
        ClaimsPrincipal user,
        IClock clock)
    {
        if (ClaimVersions.Check(request, claim) is { } stale) return (stale.ToResult(), []);
        var decision = Decide(claim, user.StaffName(), clock.GetCurrentInstant());
        if (!decision.IsRefused) session.Delete<BuyerDetails>(claim.Id);
        return ClaimResponses.Respond(claim, decision, request.HttpContext.Response);
    }
}
