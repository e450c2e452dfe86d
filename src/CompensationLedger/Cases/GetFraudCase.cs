using System.Security.Claims;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using CompensationLedger.Reports;
using Marten;
using Marten.Pagination;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;

namespace CompensationLedger.Cases;

/// <summary>A fraud case as staff see it. Bank account numbers are masked for everyone but investigators.</summary>
public sealed record FraudCaseView(
    Guid Id,
    int Version,
    string Title,
    IReadOnlyList<string> Platforms,
    LocalDate ActiveFrom,
    LocalDate ActiveTo,
    Money EstimatedLoss,
    string OpenedBy,
    Instant OpenedAt,
    int SupplierAccountCount,
    int BankAccountCount,
    IReadOnlyList<FlaggedSupplierAccount> SupplierAccounts,
    IReadOnlyList<FlaggedBankAccountView> BankAccounts,
    ClaimTotals? Totals = null)
{
    /// <param name="totals">Shown by <c>GET /api/cases/{caseId}</c>; null in the answers to flagging commands.</param>
    public static FraudCaseView From(FraudCase c, ClaimsPrincipal viewer, ClaimTotals? totals = null)
    {
        var unmasked = viewer.IsInRole(Roles.Investigator);
        return new FraudCaseView(c.Id, c.Version, c.Title, c.Platforms, c.ActiveFrom, c.ActiveTo, c.EstimatedLoss, c.OpenedBy, c.OpenedAt,
            c.SupplierAccounts.Count, c.BankAccounts.Count, c.SupplierAccounts,
            c.BankAccounts.Select(b => new FlaggedBankAccountView(unmasked ? b.AccountNumber : AccountNumbers.Mask(b.AccountNumber), b.BankName, b.HolderName, b.Country)).ToArray(),
            totals);
    }
}

/// <param name="AccountNumber">In full for investigators; otherwise masked to the last four characters.</param>
public sealed record FlaggedBankAccountView(string AccountNumber, string? BankName, string? HolderName, string? Country);

/// <summary>A case in a list: the figures without the flags.</summary>
public sealed record FraudCaseSummary(Guid Id, string Title, IReadOnlyList<string> Platforms, LocalDate ActiveFrom, LocalDate ActiveTo,
    Money EstimatedLoss, int SupplierAccountCount, int BankAccountCount, Instant OpenedAt);

public sealed record PagedList<T>(IReadOnlyList<T> Items, int Page, int PageSize, long TotalCount);

public static class CaseResponses
{
    /// <summary>Turns a flagging decision into the HTTP answer and the events to append.</summary>
    public static (IResult, Events) Respond(FraudCase fraudCase, Decision decision, ClaimsPrincipal user)
    {
        if (decision.Refusal is { } refusal) return (refusal.ToProblem().ToResult(), []);
        var updated = decision.Events.Aggregate(fraudCase, (state, e) => e switch
        {
            SupplierAccountsFlagged s => state.Apply(s),
            BankAccountsFlagged b => state.Apply(b),
            _ => state,
        }) with { Version = fraudCase.Version + decision.Events.Count };
        var events = new Events();
        events.AddRange(decision.Events);
        return (TypedResults.Ok(FraudCaseView.From(updated, user)), events);
    }
}

public static class GetFraudCaseEndpoint
{
    [WolverineGet("/api/cases/{caseId}", Name = "GetFraudCase")]
    [Authorize(Roles = Roles.AnyStaff)]
    [Tags("Fraud cases")]
    [EndpointSummary("A fraud case with its flagged accounts and its totals (claimed, verified, entitled, paid, returned, outstanding, counts by status)")]
    public static async Task<Results<Ok<FraudCaseView>, ProblemHttpResult>> Get(Guid caseId, IQuerySession session, ClaimPolicySettings policy,
        ClaimsPrincipal user, CancellationToken ct)
    {
        var fraudCase = await session.LoadAsync<FraudCase>(caseId, ct);
        if (fraudCase is null) return TypedResults.Problem(Problems.NotFound("Fraud case", caseId));
        // Claims owed in different fund currencies cannot be added up: the case then shows no totals (the report says why).
        var totals = await ClaimTotalsSql.TotalAsync(session, caseId, policy.FundCurrency, ct);
        return TypedResults.Ok(FraudCaseView.From(fraudCase, user, totals));
    }
}

public static class ListFraudCasesEndpoint
{
    [WolverineGet("/api/cases", Name = "ListFraudCases")]
    [Authorize(Roles = Roles.AnyStaff)]
    [Tags("Fraud cases")]
    [EndpointSummary("Fraud cases, newest first, filtered by platform or title")]
    public static async Task<Results<Ok<PagedList<FraudCaseSummary>>, ProblemHttpResult>> Get(
        IQuerySession session, CancellationToken ct, string? platform = null, string? title = null, int page = 1, int pageSize = 50)
    {
        var check = new Validation();
        if (page < 1) check.Add("page", "must be 1 or more.");
        if (pageSize is < 1 or > 500) check.Add("pageSize", "must be between 1 and 500.");
        if (platform?.Length > Validation.IdentifierLength) check.Add("platform", $"must be at most {Validation.IdentifierLength} characters.");
        if (title?.Length > Validation.NameLength) check.Add("title", $"must be at most {Validation.NameLength} characters.");
        if (!check.IsValid) return TypedResults.Problem(check.ToProblem());

        IQueryable<FraudCase> query = session.Query<FraudCase>();
        if (!string.IsNullOrWhiteSpace(platform)) query = query.Where(c => c.Platforms.Contains(platform.Trim()));
        if (!string.IsNullOrWhiteSpace(title)) query = query.Where(c => c.Title.Contains(title.Trim(), StringComparison.OrdinalIgnoreCase));
        var results = await query.OrderByDescending(c => c.OpenedAt).ToPagedListAsync(page, pageSize, ct);
        var items = results.Select(c => new FraudCaseSummary(c.Id, c.Title, c.Platforms, c.ActiveFrom, c.ActiveTo, c.EstimatedLoss,
            c.SupplierAccounts.Count, c.BankAccounts.Count, c.OpenedAt)).ToArray();
        return TypedResults.Ok(new PagedList<FraudCaseSummary>(items, page, pageSize, results.TotalItemCount));
    }
}
