using System.Text.Json;
using CompensationLedger.Cases;
using CompensationLedger.Infrastructure;
using Marten;
using Marten.Linq.MatchesSql;
using Marten.Pagination;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Claims;

public static class GetClaimEndpoint
{
    [WolverineGet("/api/claims/{claimId}", Name = "GetClaim")]
    [Authorize(Roles = Roles.AnyStaff)]
    [Tags("Claims")]
    [EndpointSummary("A claim (staff): status, checks, open request, entitlement. The ETag is the version to send as If-Match")]
    public static async Task<Results<Ok<Claim>, ProblemHttpResult>> Get(Guid claimId, IQuerySession session, HttpResponse response, CancellationToken ct)
    {
        var claim = await session.LoadAsync<Claim>(claimId, ct);
        if (claim is null) return TypedResults.Problem(Problems.NotFound("Claim", claimId));
        response.Headers.ETag = ClaimVersions.ETag(claim.Version);
        return TypedResults.Ok(claim);
    }
}

public static class GetClaimBuyerEndpoint
{
    [WolverineGet("/api/claims/{claimId}/buyer", Name = "GetClaimBuyer")]
    [Authorize(Roles = Roles.ClaimsHandler + "," + Roles.ClaimsApprover)]
    [Tags("Claims")]
    [EndpointSummary("The buyer's personal data (claims staff only); kept outside the event log so it can be erased")]
    public static async Task<Results<Ok<BuyerDetails>, ProblemHttpResult>> Get(Guid claimId, IQuerySession session, CancellationToken ct)
    {
        var buyer = await session.LoadAsync<BuyerDetails>(claimId, ct);
        return buyer is null ? TypedResults.Problem(Problems.NotFound("Buyer of claim", claimId)) : TypedResults.Ok(buyer);
    }
}

/// <summary>A claim in a list.</summary>
public sealed record ClaimSummary(Guid Id, string Reference, Guid CaseId, ClaimStatus Status, string BuyerCountry, string Platform, string SupplierAccount,
    LocalDate PaymentDate, Money AmountPaid, Money? Entitlement, Instant FiledAt, int Version);

/// <summary>A page of claims, with what all claims matching the filters claim in total (per currency paid).</summary>
public sealed record ClaimList(IReadOnlyList<ClaimSummary> Items, int Page, int PageSize, long TotalCount, IReadOnlyList<Money> ClaimedLoss);

public static class ListClaimsEndpoint
{
    [WolverineGet("/api/claims", Name = "ListClaims")]
    [Authorize(Roles = Roles.AnyStaff)]
    [Tags("Claims")]
    [EndpointSummary("Claims, newest first, filtered by case, status (e.g. verified-eligible), buyer country and platform; paged")]
    public static async Task<Results<Ok<ClaimList>, ProblemHttpResult>> Get(IQuerySession session, CancellationToken ct,
        Guid? caseId = null, string? status = null, string? country = null, string? platform = null, int page = 1, int pageSize = 50)
    {
        var check = new Validation();
        var statusValue = status is null ? null : ParseStatus(status);
        if (status is not null && statusValue is null)
            check.Add("status", $"must be one of {string.Join(", ", Enum.GetValues<ClaimStatus>().Select(StatusName))}.");
        if (country is not null && !Countries.IsIsoAlpha2(country)) check.Add("country", "must be an ISO 3166-1 alpha-2 code.");
        if (platform?.Length > Validation.IdentifierLength) check.Add("platform", $"must be at most {Validation.IdentifierLength} characters.");
        if (page < 1) check.Add("page", "must be 1 or more.");
        if (pageSize is < 1 or > 500) check.Add("pageSize", "must be between 1 and 500.");
        if (!check.IsValid) return TypedResults.Problem(check.ToProblem());

        IQueryable<Claim> query = session.Query<Claim>();
        if (caseId is { } id) query = query.Where(c => c.CaseId == id);
        // HTTP names statuses in kebab-case; Marten stores them by their C# names, which is what its LINQ compares.
        if (statusValue is { } wanted) query = query.Where(c => c.Status == wanted);
        if (country is not null) query = query.Where(c => c.BuyerCountry == country.ToUpperInvariant());
        if (!string.IsNullOrWhiteSpace(platform)) query = query.Where(c => c.MatchesSql("lower(d.data ->> 'platform') = lower(?)", platform.Trim()));

        var results = await query.OrderByDescending(c => c.FiledAt).ToPagedListAsync(page, pageSize, ct);
        var amounts = await query.Select(c => new ClaimedAmount { Amount = c.AmountPaid.Amount, Currency = c.AmountPaid.Currency }).ToListAsync(ct);
        var claimed = amounts.GroupBy(a => a.Currency).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new Money(g.Sum(a => a.Amount), g.Key)).ToArray();
        var items = results.Select(c => new ClaimSummary(c.Id, c.Reference, c.CaseId, c.Status, c.BuyerCountry, c.Platform, c.SupplierAccount,
            c.PaymentDate, c.AmountPaid, c.Entitlement?.Entitlement, c.FiledAt, c.Version)).ToArray();
        return TypedResults.Ok(new ClaimList(items, page, pageSize, results.TotalItemCount, claimed));
    }

    private sealed class ClaimedAmount
    {
        public decimal Amount { get; init; }

        public string Currency { get; init; } = "";
    }

    private static readonly JsonSerializerOptions Json = CreateJson();

    private static JsonSerializerOptions CreateJson()
    {
        var json = new JsonSerializerOptions();
        json.ConfigureLedgerJson();
        return json;
    }

    public static string StatusName(ClaimStatus status) => JsonSerializer.Serialize(status, Json).Trim('"');

    public static ClaimStatus? ParseStatus(string text) =>
        Enum.GetValues<ClaimStatus>().Select(s => (ClaimStatus?)s).FirstOrDefault(s => StatusName(s!.Value) == text.Trim());
}

/// <summary>One event of a claim's history: what happened, when (business time), who did it, and what changed.</summary>
public sealed record ClaimHistoryEntry(int Version, string Event, Instant At, string Actor, Instant RecordedAt,
    ClaimStatus? StatusBefore, ClaimStatus StatusAfter, string Summary, object Data);

public sealed record ClaimHistory(Guid ClaimId, string Reference, IReadOnlyList<ClaimHistoryEntry> Events);

public static class ClaimHistoryEndpoint
{
    [WolverineGet("/api/claims/{claimId}/history", Name = "GetClaimHistory")]
    [Authorize(Roles = Roles.AnyStaff)]
    [Tags("Claims")]
    [EndpointSummary("Every event of a claim, in order, with time, actor and what changed")]
    public static async Task<Results<Ok<ClaimHistory>, ProblemHttpResult>> Get(Guid claimId, IQuerySession session, CancellationToken ct)
    {
        var events = await session.Events.FetchStreamAsync(claimId, token: ct);
        if (events.Count == 0) return TypedResults.Problem(Problems.NotFound("Claim", claimId));
        return TypedResults.Ok(Describe(claimId, events.Select(e => (e.Version, e.Data, Instant.FromDateTimeOffset(e.Timestamp)))));
    }

    public static ClaimHistory Describe(Guid claimId, IEnumerable<(long Version, object Data, Instant RecordedAt)> events)
    {
        Claim? state = null;
        var entries = new List<ClaimHistoryEntry>();
        foreach (var (version, data, recordedAt) in events)
        {
            var before = state?.Status;
            state = Claim.Applying(state, data);
            var claimEvent = (IClaimEvent)data;
            entries.Add(new ClaimHistoryEntry((int)version, data.GetType().Name, claimEvent.At, claimEvent.Actor, recordedAt, before, state.Status, Summary(data), data));
        }
        return new ClaimHistory(claimId, state!.Reference, entries);
    }

    public static string Summary(object e) => e switch
    {
        ClaimFiled f => $"Filed {f.Reference}: {f.AmountPaid} paid {f.PaymentDate:yyyy-MM-dd} to {f.Platform}/{f.SupplierAccount}, under policy {f.Policy.Version}.",
        ClaimVerified v => $"Verified: {v.Result}" + (v.Reasons.Count > 0 ? $" because of {string.Join(", ", v.Reasons)}" : "") +
                           $"; {v.Checks.Count(c => c.Outcome == CheckOutcome.Passed)} of {v.Checks.Count} checks passed.",
        ClaimInformationRequested r => $"Information request {r.RequestNumber}: {string.Join("; ", r.Missing)} (by {r.Deadline}).",
        ClaimInformationProvided p => $"Answer to request {p.RequestNumber} recorded" + (p.Evidence.Count > 0 ? $" with {p.Evidence.Count} document(s)." : "."),
        ClaimLapsed l => $"Lapsed: request {l.RequestNumber} unanswered at its deadline {l.Deadline}.",
        ClaimApproved a => $"Approved: entitled to {a.Computation.Entitlement}" + (a.Computation.Rate is { } r ? $" (rate {r.Rate} on {r.Date:yyyy-MM-dd})." : "."),
        ClaimRejected r => $"Rejected: {r.Reason}.",
        ClaimAppealed => "Appealed.",
        ClaimAppealGranted g => $"Appeal granted: entitled to {g.Computation.Entitlement}.",
        ClaimAppealDismissed => "Appeal dismissed: the rejection stands.",
        ClaimWithdrawn w => $"Withdrawn: {w.Reason}",
        ClaimBuyerDataErased => "The buyer's personal data was erased at their request.",
        ClaimAccessCodeReissued => "A new access code was issued to the buyer; the old one no longer works.",
        _ => e.GetType().Name,
    };
}
