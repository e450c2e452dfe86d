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

/// <summary>Appeal a rejection on the buyer's behalf, within the policy's appeal window. One appeal per claim.</summary>
public sealed record AppealClaim(string Grounds);

public static class AppealClaimEndpoint
{
    public static ProblemDetails Validate(AppealClaim command) =>
        new Validation().Text("grounds", command.Grounds, Validation.TextLength).ToProblem();

    public static Decision Decide(Claim claim, AppealClaim command, string handler, Instant now)
    {
        if (claim.Status != ClaimStatus.Rejected) return ClaimRules.Illegal(claim, "appealed");
        if (claim.Appealed) return Decision.Refuse("already-appealed", $"Claim {claim.Reference} was appealed once and the appeal was decided; there is no second appeal.");
        var closes = claim.RejectedAt!.Value + Duration.FromDays(claim.Policy.AppealWindowDays);
        if (now > closes)
            return Decision.Refuse("appeal-window-closed",
                $"Appeals must be made within {claim.Policy.AppealWindowDays} days of the rejection; the window closed at {closes}.",
                new Dictionary<string, object?> { ["closedAt"] = closes.ToString() });
        return Decision.Accept(new ClaimAppealed(claim.Id, command.Grounds.Trim(), handler, now));
    }

    [WolverinePost("/api/claims/{claimId}/appeal", Name = "AppealClaim")]
    [Authorize(Roles = Roles.ClaimsHandler)]
    [Tags("Claims")]
    [RequiresExpectedVersion]
    [ProducesResponseType<Claim>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status412PreconditionFailed, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status428PreconditionRequired, "application/problem+json")]
    [EndpointSummary("Appeal a rejection on the buyer's behalf within the appeal window (send If-Match: \"<version>\")")]
    public static (IResult, Events) Post(
        AppealClaim command,
        [WriteAggregate("claimId", OnMissing = OnMissing.ProblemDetailsWith404)] Claim claim,
        HttpRequest request,
        ClaimsPrincipal user,
        IClock clock)
    {
        if (ClaimVersions.Check(request, claim) is { } stale) return (stale.ToResult(), []);
        return ClaimResponses.Respond(claim, Decide(claim, command, user.StaffName(), clock.GetCurrentInstant()), request.HttpContext.Response);
    }
}

/// <summary>Decide an appeal: grant (the claim is approved and its entitlement computed) or dismiss (the rejection stands).</summary>
public sealed record DecideAppeal(AppealOutcome Outcome, string? Note = null);

public static class DecideAppealEndpoint
{
    public static ProblemDetails Validate(DecideAppeal command)
    {
        var check = new Validation().Text("note", command.Note, Validation.TextLength, required: false);
        if (!Enum.IsDefined(command.Outcome)) check.Add("outcome", "must be grant or dismiss.");
        return check.ToProblem();
    }

    /// <summary>Four eyes twice over: neither a verifier of the claim nor the approver who rejected it decides the appeal.</summary>
    public static Decision Decide(Claim claim, DecideAppeal command, ExchangeRate? rate, string approver, Instant now)
    {
        if (claim.Status != ClaimStatus.UnderAppeal) return ClaimRules.Illegal(claim, "decided on appeal");
        if (ClaimRules.FourEyes(claim, approver) is { } fourEyes) return fourEyes;
        if (string.Equals(claim.RejectedBy, approver, StringComparison.OrdinalIgnoreCase))
            return Decision.Refuse("four-eyes", $"{approver} rejected claim {claim.Reference} and so cannot decide its appeal; another approver must.");
        var note = ApproveClaimEndpoint.Note(command.Note);
        if (command.Outcome == AppealOutcome.Dismiss) return Decision.Accept(new ClaimAppealDismissed(claim.Id, note, approver, now));
        var computation = Entitlements.Compute(claim.AmountPaid, claim.PaymentDate, claim.Policy, rate, out var noRate);
        if (computation is null) return noRate!;
        return Decision.Accept(new ClaimAppealGranted(claim.Id, computation, note, approver, now));
    }

    [WolverinePost("/api/claims/{claimId}/appeal-decision", Name = "DecideAppeal")]
    [Authorize(Roles = Roles.ClaimsApprover)]
    [Tags("Claims")]
    [RequiresExpectedVersion]
    [ProducesResponseType<Claim>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status412PreconditionFailed, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status428PreconditionRequired, "application/problem+json")]
    [EndpointSummary("Grant or dismiss an appeal (send If-Match: \"<version>\"); granting approves the claim under its policy")]
    public static async Task<(IResult, Events, OutgoingMessages)> Post(
        DecideAppeal command,
        [WriteAggregate("claimId", OnMissing = OnMissing.ProblemDetailsWith404)] Claim claim,
        IDocumentSession session,
        HttpRequest request,
        ClaimsPrincipal user,
        IClock clock,
        CancellationToken ct)
    {
        if (ClaimVersions.Check(request, claim) is { } stale) return (stale.ToResult(), [], []);
        var rate = command.Outcome == AppealOutcome.Grant ? await ApproveClaimEndpoint.RateFor(claim, session, ct) : null;
        return await ClaimResponses.RespondAndTellTheFund(claim, Decide(claim, command, rate, user.StaffName(), clock.GetCurrentInstant()), request.HttpContext.Response,
            session, user.StaffName(), ct);
    }
}

/// <summary>Withdraw a claim at the buyer's request. Possible while the claim is open; decided, lapsed or withdrawn claims stay as they are.</summary>
public sealed record WithdrawClaim(string Reason);

public static class WithdrawClaimEndpoint
{
    public static ProblemDetails Validate(WithdrawClaim command) =>
        new Validation().Text("reason", command.Reason, Validation.TextLength).ToProblem();

    public static Decision Decide(Claim claim, WithdrawClaim command, string handler, Instant now) =>
        ClaimRules.IsOpen(claim.Status)
            ? Decision.Accept(new ClaimWithdrawn(claim.Id, command.Reason.Trim(), handler, now))
            : ClaimRules.Illegal(claim, "withdrawn");

    [WolverinePost("/api/claims/{claimId}/withdrawal", Name = "WithdrawClaim")]
    [Authorize(Roles = Roles.ClaimsHandler)]
    [Tags("Claims")]
    [RequiresExpectedVersion]
    [ProducesResponseType<Claim>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status412PreconditionFailed, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status428PreconditionRequired, "application/problem+json")]
    [EndpointSummary("Withdraw an open claim at the buyer's request (send If-Match: \"<version>\")")]
    public static (IResult, Events) Post(
        WithdrawClaim command,
        [WriteAggregate("claimId", OnMissing = OnMissing.ProblemDetailsWith404)] Claim claim,
        HttpRequest request,
        ClaimsPrincipal user,
        IClock clock)
    {
        if (ClaimVersions.Check(request, claim) is { } stale) return (stale.ToResult(), []);
        return ClaimResponses.Respond(claim, Decide(claim, command, user.StaffName(), clock.GetCurrentInstant()), request.HttpContext.Response);
    }
}
