using System.Globalization;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.StatusLookup;

/// <summary>A buyer's lookup: the claim reference and the access code they were given when the claim was filed.</summary>
public sealed record StatusLookupRequest(string Reference, string AccessCode);

/// <summary>A buyer's answer to an information request, sent from the status page or a client of the buyer API.</summary>
public sealed record BuyerInformationResponse(string Reference, string AccessCode, string Response, IReadOnlyList<EvidenceDocument>? Evidence = null);

public static class StatusLookupResults
{
    /// <summary>
    /// The one answer for "no such reference" and "wrong code": the same status and the same bytes
    /// (no trace id or path that would differ), so the two cannot be told apart.
    /// </summary>
    public static IResult NoMatch() => Results.Json(
        new Dictionary<string, object>
        {
            ["type"] = Problems.TypeBase + "no-matching-claim",
            ["title"] = "No claim matches this reference and access code.",
            ["status"] = StatusCodes.Status404NotFound,
            ["detail"] = "Check both: the reference looks like CL-2011-000123-7, the access code like ABCD-EFGH-...; they are in the message you got when the claim was filed.",
            ["code"] = "no-matching-claim",
        },
        statusCode: StatusCodes.Status404NotFound,
        contentType: "application/problem+json");

    public static IResult TooMany(HttpResponse response, Duration wait)
    {
        var seconds = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));
        response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return Problems.Create(StatusCodes.Status429TooManyRequests, "too-many-lookups", "Too many lookups.",
            $"Please wait {seconds} seconds before trying again.").ToResult();
    }

    public static IResult From(LookupOutcome outcome, HttpResponse response) => outcome switch
    {
        LookupOutcome.Found found => Results.Ok(found.Status),
        LookupOutcome.TooManyTries tooMany => TooMany(response, tooMany.Wait),
        LookupOutcome.Refused refused => refused.Refusal.ToProblem().ToResult(),
        _ => NoMatch(),
    };

    public static void ValidateCredentials(Validation check, string? reference, string? accessCode)
    {
        check.Text("reference", reference, BuyerLookups.MaxReferenceLength)
            .Text("accessCode", accessCode, BuyerLookups.MaxAccessCodeLength);
    }
}

public static class LookUpClaimStatusEndpoint
{
    public static ProblemDetails Validate(StatusLookupRequest request)
    {
        var check = new Validation();
        StatusLookupResults.ValidateCredentials(check, request.Reference, request.AccessCode);
        return check.ToProblem();
    }

    [WolverinePost("/api/status-lookups", Name = "LookUpClaimStatus")]
    [AllowAnonymous]
    [Tags("Buyers")]
    [EndpointSummary("For buyers (no sign-in): a claim's status, timeline, what is missing, entitlement and payments, by reference and access code")]
    [ProducesResponseType<BuyerClaimStatus>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status429TooManyRequests, "application/problem+json")]
    public static async Task<IResult> Post(StatusLookupRequest request, IQuerySession session, LookupGuard guard, HttpContext context)
    {
        var outcome = await BuyerLookups.LookUp(session, guard, BuyerLookups.ClientAddress(context), request.Reference, request.AccessCode, context.RequestAborted);
        context.Response.Headers.CacheControl = "no-store";
        return StatusLookupResults.From(outcome, context.Response);
    }
}

public static class AnswerInformationRequestEndpoint
{
    public static ProblemDetails Validate(BuyerInformationResponse request)
    {
        var check = new Validation();
        StatusLookupResults.ValidateCredentials(check, request.Reference, request.AccessCode);
        check.Text("response", request.Response, Validation.TextLength);
        FileClaimEndpoint.ValidateEvidence(check, "evidence", request.Evidence);
        return check.ToProblem();
    }

    [WolverinePost("/api/status-lookups/info-responses", Name = "AnswerInformationRequest")]
    [AllowAnonymous]
    [Tags("Buyers")]
    [EndpointSummary("For buyers (no sign-in): answer the open information request (text and evidence documents by name and SHA-256)")]
    [ProducesResponseType<BuyerClaimStatus>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status429TooManyRequests, "application/problem+json")]
    public static async Task<IResult> Post(BuyerInformationResponse request, IDocumentSession session, LookupGuard guard, IClock clock, HttpContext context)
    {
        var outcome = await BuyerLookups.Answer(session, guard, clock, BuyerLookups.ClientAddress(context), request.Reference, request.AccessCode,
            new RecordInformationResponse(request.Response, request.Evidence), context.RequestAborted);
        context.Response.Headers.CacheControl = "no-store";
        return StatusLookupResults.From(outcome, context.Response);
    }
}
