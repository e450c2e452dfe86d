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

/// <summary>Give the buyer a new access code. The body is empty (<c>{}</c>).</summary>
public sealed record ReissueAccessCode;

/// <summary>The new code, shown once: hand it to the buyer through a channel you have verified is theirs.</summary>
public sealed record AccessCodeReissued(Guid ClaimId, string Reference, string AccessCode, int Version);

public static class ReissueAccessCodeEndpoint
{
    /// <summary>Always possible: buyers lose codes, and a filing's response (the only copy) can be lost in transit.</summary>
    public static ClaimAccessCodeReissued Decide(Claim claim, string handler, Instant now) => new(claim.Id, handler, now);

    [WolverinePost("/api/claims/{claimId}/access-code", Name = "ReissueAccessCode")]
    [Authorize(Roles = Roles.ClaimsHandler)]
    [Tags("Claims")]
    [RequiresExpectedVersion]
    [ProducesResponseType<AccessCodeReissued>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status412PreconditionFailed, "application/problem+json")]
    [EndpointSummary("Issue the buyer a new access code (send If-Match: \"<version>\"); the old code stops working. Shown once, stored only as a hash")]
    public static (IResult, Events) Post(
        ReissueAccessCode command,
        [WriteAggregate("claimId", OnMissing = OnMissing.ProblemDetailsWith404)] Claim claim,
        IDocumentSession session,
        HttpRequest request,
        ClaimsPrincipal user,
        IClock clock)
    {
        if (ClaimVersions.Check(request, claim) is { } stale) return (stale.ToResult(), []);
        var reissued = Decide(claim, user.StaffName(), clock.GetCurrentInstant());
        var code = AccessCodes.New();
        session.Store(new ClaimAccess(claim.Id, claim.Reference, AccessCodes.Hash(code)));

        var response = request.HttpContext.Response;
        response.Headers.CacheControl = "no-store";
        response.Headers.ETag = ClaimVersions.ETag(claim.Version + 1);
        return (TypedResults.Ok(new AccessCodeReissued(claim.Id, claim.Reference, code, claim.Version + 1)), [reissued]);
    }
}
