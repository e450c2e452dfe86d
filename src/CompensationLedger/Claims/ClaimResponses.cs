using Marten;
using Wolverine;
using System.Globalization;
using CompensationLedger.Infrastructure;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Net.Http.Headers;
using Wolverine.Marten;

namespace CompensationLedger.Claims;

/// <summary>
/// Optimistic concurrency on a claim: every command on an existing claim carries the version the client
/// last read, as <c>If-Match: "&lt;version&gt;"</c> (the ETag of <c>GET /api/claims/{claimId}</c> and of every
/// claim response). Missing: 428; not a version: 400; stale: 412. The append itself is also checked
/// against the version read, so of two requests sent with the same version exactly one wins.
/// </summary>
public static class ClaimVersions
{
    public const string Header = "If-Match";

    public static string ETag(int version) => $"\"{version.ToString(CultureInfo.InvariantCulture)}\"";

    public static ProblemDetails? Check(HttpRequest request, Claim claim)
    {
        var values = request.Headers[HeaderNames.IfMatch];
        if (values.Count == 0)
            return Problems.Create(StatusCodes.Status428PreconditionRequired, "expected-version-required", "The expected version is required.",
                $"Send the claim's version you last read as If-Match: \"<version>\" (the claim is at version {claim.Version}).");
        var raw = values.ToString().Trim();
        if (raw.StartsWith("W/", StringComparison.Ordinal)) raw = raw[2..];
        raw = raw.Trim('"');
        if (values.Count > 1 || !int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var expected))
            return Problems.Invalid("if-match", "must be the claim's version in quotes, e.g. \"3\".");
        if (expected != claim.Version)
            return Problems.Create(StatusCodes.Status412PreconditionFailed, "stale-version", "The claim changed since you read it.",
                $"You sent version {expected}; the claim is at version {claim.Version}. Nothing was changed: read it again and decide on what it says now.",
                new Dictionary<string, object?> { ["expectedVersion"] = expected, ["currentVersion"] = claim.Version });
        return null;
    }

    /// <summary>True when the request carried an expected version: a lost race is then a stale precondition (412), not a generic conflict.</summary>
    public static bool HasExpectation(HttpRequest request) => request.Headers.ContainsKey(HeaderNames.IfMatch);
}

/// <summary>Marks a claim command that needs <c>If-Match</c> (documented in OpenAPI by an operation transformer).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequiresExpectedVersionAttribute : Attribute;

/// <summary>Why a claim cannot do something in its current state: one stable code per state.</summary>
public static class ClaimRules
{
    public static Refusal Illegal(Claim claim, string action)
    {
        var code = claim.Status switch
        {
            ClaimStatus.Filed => "claim-not-verified",
            ClaimStatus.VerifiedIneligible => "claim-ineligible",
            ClaimStatus.AwaitingInformation => "awaiting-information",
            ClaimStatus.Approved => "claim-approved",
            ClaimStatus.Rejected => "claim-rejected",
            ClaimStatus.UnderAppeal => "claim-under-appeal",
            ClaimStatus.Lapsed => "claim-lapsed",
            ClaimStatus.Withdrawn => "claim-withdrawn",
            _ => "illegal-transition",
        };
        return new Refusal(code, $"Claim {claim.Reference} cannot be {action}: it is {Describe(claim.Status)}.",
            Facts: new Dictionary<string, object?> { ["claimStatus"] = claim.Status, ["action"] = action });
    }

    public static string Describe(ClaimStatus status) => status switch
    {
        ClaimStatus.Filed => "filed and not verified yet",
        ClaimStatus.VerifiedEligible => "verified eligible",
        ClaimStatus.VerifiedIneligible => "verified ineligible",
        ClaimStatus.NeedsReview => "waiting for review",
        ClaimStatus.AwaitingInformation => "waiting for information from the buyer",
        ClaimStatus.Approved => "approved",
        ClaimStatus.Rejected => "rejected",
        ClaimStatus.UnderAppeal => "under appeal",
        ClaimStatus.Lapsed => "lapsed (information was not provided in time)",
        ClaimStatus.Withdrawn => "withdrawn",
        _ => status.ToString(),
    };

    /// <summary>Four eyes: whoever verified a claim never decides it.</summary>
    public static Refusal? FourEyes(Claim claim, string approver) =>
        claim.Verifiers.Contains(approver, StringComparer.OrdinalIgnoreCase)
            ? new Refusal("four-eyes", $"{approver} verified claim {claim.Reference} and so cannot decide it; another approver must.")
            : null;

    public static bool IsOpen(ClaimStatus status) => status is ClaimStatus.Filed or ClaimStatus.VerifiedEligible or ClaimStatus.VerifiedIneligible
        or ClaimStatus.NeedsReview or ClaimStatus.AwaitingInformation or ClaimStatus.UnderAppeal;
}

public static class ClaimResponses
{
    /// <summary>Turns a decision on a claim into the HTTP answer (the claim as it now is, with its new ETag) and the events to append.</summary>
    public static (IResult, Events) Respond(Claim claim, Decision decision, HttpResponse response)
    {
        if (decision.Refusal is { } refusal) return (refusal.ToProblem().ToResult(), []);
        var updated = decision.Events.Aggregate(claim, Claim.Applying);
        response.Headers.ETag = ClaimVersions.ETag(updated.Version);
        var events = new Events();
        events.AddRange(decision.Events);
        return (TypedResults.Ok(updated), events);
    }

    /// <summary>
    /// As <see cref="Respond"/>, and when the decision approves the claim, tells the fund that covers the
    /// claim's case what the claim is owed: a durable message stored in the same transaction as the
    /// approval (Wolverine's outbox), so the fund learns of every approval exactly once, even after a crash.
    /// </summary>
    public static async Task<(IResult, Events, OutgoingMessages)> RespondAndTellTheFund(Claim claim, Decision decision, HttpResponse response,
        IQuerySession session, string by, CancellationToken ct)
    {
        var (result, events) = Respond(claim, decision, response);
        var messages = new OutgoingMessages();
        if (decision.IsRefused || decision.Events.Count == 0) return (result, events, messages);
        var updated = decision.Events.Aggregate(claim, Claim.Applying);
        if (updated.Status == ClaimStatus.Approved && await Funds.CaseCoverages.FundIdOf(session, claim.CaseId, ct) is { } fundId
            && Funds.CoverCaseEndpoint.EntitlementFor(fundId, updated, by) is { } owed)
            messages.Add(owed);
        return (result, events, messages);
    }
}
