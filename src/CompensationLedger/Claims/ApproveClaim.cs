using Wolverine;
using System.Security.Claims;
using CompensationLedger.ExchangeRates;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Claims;

/// <summary>Approve a verified claim: the policy it was filed under computes the entitlement.</summary>
public sealed record ApproveClaim(string? Note = null);

public static class ApproveClaimEndpoint
{
    public static ProblemDetails Validate(ApproveClaim command) =>
        new Validation().Text("note", command.Note, Validation.TextLength, required: false).ToProblem();

    /// <summary>
    /// Approvable when verified eligible, or when a verification asked for review (the approver is the review).
    /// Never by someone who verified it. A loss in another currency needs finance's rate for the payment date.
    /// </summary>
    public static Decision Decide(Claim claim, ApproveClaim command, ExchangeRate? rate, string approver, Instant now)
    {
        if (claim.Status is not (ClaimStatus.VerifiedEligible or ClaimStatus.NeedsReview)) return ClaimRules.Illegal(claim, "approved");
        if (ClaimRules.FourEyes(claim, approver) is { } fourEyes) return fourEyes;
        var computation = Entitlements.Compute(claim.AmountPaid, claim.PaymentDate, claim.Policy, rate, out var noRate);
        if (computation is null) return noRate!;
        return Decision.Accept(new ClaimApproved(claim.Id, computation, Note(command.Note), approver, now));
    }

    public static string? Note(string? note) => string.IsNullOrWhiteSpace(note) ? null : note.Trim();

    /// <summary>
    /// The rate the entitlement needs: the loss's currency against the fund's, on the payment date, from the records of the
    /// fund that covers the claim's case (its own rate, else the rate for every fund: <see cref="ExchangeRate.For"/>); null when
    /// none is needed or none is recorded.
    /// </summary>
    public static async Task<ExchangeRate?> RateFor(Claim claim, IQuerySession session, CancellationToken ct) =>
        claim.AmountPaid.Currency == claim.Policy.FundCurrency
            ? null
            : await ExchangeRate.For(session, claim.AmountPaid.Currency, claim.Policy.FundCurrency, claim.PaymentDate,
                await Funds.CaseCoverages.FundIdOf(session, claim.CaseId, ct), ct);

    [WolverinePost("/api/claims/{claimId}/approval", Name = "ApproveClaim")]
    [Authorize(Roles = Roles.ClaimsApprover)]
    [Tags("Claims")]
    [RequiresExpectedVersion]
    [ProducesResponseType<Claim>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status412PreconditionFailed, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status428PreconditionRequired, "application/problem+json")]
    [EndpointSummary("Approve a claim (send If-Match: \"<version>\"); the entitlement is min(coverage x loss, cap) in the fund currency, rounded once")]
    public static async Task<(IResult, Events, OutgoingMessages)> Post(
        ApproveClaim command,
        [WriteAggregate("claimId", OnMissing = OnMissing.ProblemDetailsWith404)] Claim claim,
        IDocumentSession session,
        HttpRequest request,
        ClaimsPrincipal user,
        IClock clock,
        CancellationToken ct)
    {
        if (ClaimVersions.Check(request, claim) is { } stale) return (stale.ToResult(), [], []);
        var rate = await RateFor(claim, session, ct);
        return await ClaimResponses.RespondAndTellTheFund(claim, Decide(claim, command, rate, user.StaffName(), clock.GetCurrentInstant()), request.HttpContext.Response,
            session, user.StaffName(), ct);
    }
}

/// <summary>Reject a claim with a reason code (and, if useful, a note for the determination letter).</summary>
public sealed record RejectClaim(RejectionReason Reason, string? Note = null);

public static class RejectClaimEndpoint
{
    public static ProblemDetails Validate(RejectClaim command)
    {
        var check = new Validation().Text("note", command.Note, Validation.TextLength, required: false);
        if (!Enum.IsDefined(command.Reason)) check.Add("reason", "is not a known reason code.");
        if (command.Reason == RejectionReason.Other && string.IsNullOrWhiteSpace(command.Note)) check.Add("note", "is required when the reason is 'other'.");
        return check.ToProblem();
    }

    public static Decision Decide(Claim claim, RejectClaim command, string approver, Instant now)
    {
        if (claim.Status is not (ClaimStatus.VerifiedEligible or ClaimStatus.VerifiedIneligible or ClaimStatus.NeedsReview))
            return ClaimRules.Illegal(claim, "rejected");
        if (ClaimRules.FourEyes(claim, approver) is { } fourEyes) return fourEyes;
        return Decision.Accept(new ClaimRejected(claim.Id, command.Reason, ApproveClaimEndpoint.Note(command.Note), approver, now));
    }

    [WolverinePost("/api/claims/{claimId}/rejection", Name = "RejectClaim")]
    [Authorize(Roles = Roles.ClaimsApprover)]
    [Tags("Claims")]
    [RequiresExpectedVersion]
    [ProducesResponseType<Claim>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status412PreconditionFailed, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status428PreconditionRequired, "application/problem+json")]
    [EndpointSummary("Reject a claim with a reason code (send If-Match: \"<version>\")")]
    public static (IResult, Events) Post(
        RejectClaim command,
        [WriteAggregate("claimId", OnMissing = OnMissing.ProblemDetailsWith404)] Claim claim,
        HttpRequest request,
        ClaimsPrincipal user,
        IClock clock)
    {
        if (ClaimVersions.Check(request, claim) is { } stale) return (stale.ToResult(), []);
        return ClaimResponses.Respond(claim, Decide(claim, command, user.StaffName(), clock.GetCurrentInstant()), request.HttpContext.Response);
    }
}
