using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Claims;

/// <summary>Ask the buyer for what is missing. The deadline is the policy's (DeficiencyDeadlineDays after now).</summary>
/// <param name="Missing">What the buyer must provide, one item per line of the notice.</param>
public sealed record RequestClaimInformation(IReadOnlyList<string> Missing);

/// <summary>
/// Scheduled (durably, in Wolverine's envelope storage) for an information request's deadline. When it
/// arrives the handler looks at the claim: answered, withdrawn or otherwise moved on means nothing happens.
/// </summary>
public sealed record ClaimInformationDeadlineReached(Guid ClaimId, int RequestNumber, Instant Deadline);

public static class RequestClaimInformationEndpoint
{
    public const int MaxItems = 20;

    public static ProblemDetails Validate(RequestClaimInformation command)
    {
        var check = new Validation().List("missing", command.Missing, MaxItems);
        for (var i = 0; i < (command.Missing?.Count ?? 0); i++) check.Text($"missing[{i}]", command.Missing![i], Validation.NameLength * 2);
        return check.ToProblem();
    }

    public static Decision Decide(Claim claim, RequestClaimInformation command, string handler, Instant now)
    {
        if (claim.Status is not (ClaimStatus.Filed or ClaimStatus.VerifiedEligible or ClaimStatus.VerifiedIneligible or ClaimStatus.NeedsReview))
            return ClaimRules.Illegal(claim, "sent an information request");
        var deadline = now + Duration.FromDays(claim.Policy.DeficiencyDeadlineDays);
        return Decision.Accept(new ClaimInformationRequested(claim.Id, claim.InformationRequestCount + 1,
            command.Missing.Select(m => m.Trim()).ToArray(), deadline, handler, now));
    }

    [WolverinePost("/api/claims/{claimId}/info-requests", Name = "RequestClaimInformation")]
    [Authorize(Roles = Roles.ClaimsHandler)]
    [Tags("Claims")]
    [RequiresExpectedVersion]
    [ProducesResponseType<Claim>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status412PreconditionFailed, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status428PreconditionRequired, "application/problem+json")]
    [EndpointSummary("Ask the buyer for missing information (send If-Match: \"<version>\"); unanswered by the policy deadline, the claim lapses")]
    public static (IResult, Events, OutgoingMessages) Post(
        RequestClaimInformation command,
        [WriteAggregate("claimId", OnMissing = OnMissing.ProblemDetailsWith404)] Claim claim,
        HttpRequest request,
        ClaimsPrincipal user,
        IClock clock)
    {
        if (ClaimVersions.Check(request, claim) is { } stale) return (stale.ToResult(), [], []);
        var now = clock.GetCurrentInstant();
        var decision = Decide(claim, command, user.StaffName(), now);
        var (result, events) = ClaimResponses.Respond(claim, decision, request.HttpContext.Response);
        var messages = new OutgoingMessages();
        if (decision.Events is [ClaimInformationRequested requested])
            messages.Delay(new ClaimInformationDeadlineReached(claim.Id, requested.RequestNumber, requested.Deadline), LapseClaimHandler.Until(requested.Deadline, now));
        return (result, events, messages);
    }
}

/// <summary>Record the buyer's answer (by a handler, on the buyer's behalf) before the deadline; the claim resumes where it was.</summary>
public sealed record RecordInformationResponse(string Response, IReadOnlyList<EvidenceDocument>? Evidence = null);

public static class RecordInformationResponseEndpoint
{
    public static ProblemDetails Validate(RecordInformationResponse command)
    {
        var check = new Validation().Text("response", command.Response, Validation.TextLength);
        FileClaimEndpoint.ValidateEvidence(check, "evidence", command.Evidence);
        return check.ToProblem();
    }

    public static Decision Decide(Claim claim, RecordInformationResponse command, string handler, Instant now)
    {
        if (claim is not { Status: ClaimStatus.AwaitingInformation, OpenRequest: { } open })
            return claim.Status == ClaimStatus.Lapsed ? ClaimRules.Illegal(claim, "answered") : new Refusal("no-open-request",
                $"Claim {claim.Reference} has no open information request: it is {ClaimRules.Describe(claim.Status)}.",
                Facts: new Dictionary<string, object?> { ["claimStatus"] = claim.Status });
        if (now > open.Deadline)
            return Decision.Refuse("information-deadline-passed",
                $"The deadline for request {open.RequestNumber} passed at {open.Deadline}; the claim lapses.",
                new Dictionary<string, object?> { ["deadline"] = open.Deadline.ToString() });
        return Decision.Accept(new ClaimInformationProvided(claim.Id, open.RequestNumber, command.Response.Trim(),
            (command.Evidence ?? []).Select(d => new EvidenceDocument(d.Name.Trim(), d.Sha256.ToLowerInvariant())).ToArray(), handler, now));
    }

    [WolverinePost("/api/claims/{claimId}/info-responses", Name = "RecordInformationResponse")]
    [Authorize(Roles = Roles.ClaimsHandler)]
    [Tags("Claims")]
    [RequiresExpectedVersion]
    [ProducesResponseType<Claim>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status412PreconditionFailed, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status428PreconditionRequired, "application/problem+json")]
    [EndpointSummary("Record the buyer's answer to the open information request (send If-Match: \"<version>\"); this cancels the lapse")]
    public static (IResult, Events) Post(
        RecordInformationResponse command,
        [WriteAggregate("claimId", OnMissing = OnMissing.ProblemDetailsWith404)] Claim claim,
        HttpRequest request,
        ClaimsPrincipal user,
        IClock clock)
    {
        if (ClaimVersions.Check(request, claim) is { } stale) return (stale.ToResult(), []);
        return ClaimResponses.Respond(claim, Decide(claim, command, user.StaffName(), clock.GetCurrentInstant()), request.HttpContext.Response);
    }
}

public static class LapseClaimHandler
{
    /// <summary>
    /// How long Wolverine waits: the business-time distance to the deadline (the same as wall time in
    /// production). If the message still arrives early by the ledger's clock, it is put off again, never acted on.
    /// </summary>
    public static TimeSpan Until(Instant deadline, Instant now) => deadline > now ? (deadline - now).ToTimeSpan() : TimeSpan.Zero;

    /// <summary>Lapses the claim only if this very request is still open and its deadline has passed.</summary>
    public static Decision Decide(Claim claim, ClaimInformationDeadlineReached due, Instant now) =>
        claim is { Status: ClaimStatus.AwaitingInformation, OpenRequest: { } open } && open.RequestNumber == due.RequestNumber && now >= open.Deadline
            ? Decision.Accept(new ClaimLapsed(claim.Id, open.RequestNumber, open.Deadline, now))
            : Decision.Accept();

    public static async Task<OutgoingMessages> Handle(ClaimInformationDeadlineReached due, Marten.IDocumentSession session, IClock clock, CancellationToken ct)
    {
        var messages = new OutgoingMessages();
        var stream = await session.Events.FetchForWriting<Claim>(due.ClaimId, ct);
        if (stream.Aggregate is not { } claim) return messages;
        var now = clock.GetCurrentInstant();
        if (claim is { Status: ClaimStatus.AwaitingInformation, OpenRequest: { } open } && open.RequestNumber == due.RequestNumber && now < open.Deadline)
        {
            messages.Delay(due, Until(open.Deadline, now));
            return messages;
        }
        stream.AppendMany(Decide(claim, due, now).Events);
        return messages;
    }
}
