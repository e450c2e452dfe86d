using CompensationLedger.Cases;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Funds;

/// <summary>A pool's money: deposited = available + allocated + in transit + settled; returned is what came back (and is available again).</summary>
public sealed record PoolView(
    Guid Id,
    PoolKind Kind,
    string Name,
    PerpetratorAccount? Perpetrator,
    Money Deposited,
    Money Allocated,
    Money InTransit,
    Money Settled,
    Money Returned,
    Money Available)
{
    public static PoolView From(Fund fund, Pool p) =>
        new(p.Id, p.Kind, p.Name, p.Perpetrator, fund.Money(p.Deposited), fund.Money(p.Allocated), fund.Money(p.InTransit), fund.Money(p.Settled),
            fund.Money(p.Returned), fund.Money(p.Available));
}

/// <param name="StillOwed">Entitled minus committed, claim by claim.</param>
/// <param name="PayableUnderCap">What a round prepared now could still commit: <paramref name="StillOwed"/> less what the cap per buyer keeps back.</param>
public sealed record EntitlementTotals(int Claims, Money Entitled, Money Committed, Money Settled, Money StillOwed, Money PayableUnderCap)
{
    /// <summary>The totals of the fund's entitlements as its fold holds them (<see cref="EntitlementRows.TotalsAsync"/> sums the same in SQL).</summary>
    public static EntitlementTotals Of(Fund fund, Instant now)
    {
        var claims = fund.Entitlements.Values.ToList();
        var payable = BuyerCap.PayableNow(fund, now);
        return new EntitlementTotals(claims.Count, fund.Money(claims.Sum(c => c.Amount)), fund.Money(claims.Sum(c => c.Committed)),
            fund.Money(claims.Sum(c => c.Settled)), fund.Money(claims.Sum(c => c.StillOwed)), fund.Money(payable.Values.Sum()));
    }
}

public sealed record FundView(
    Guid Id,
    int Version,
    string Name,
    string Sponsor,
    string Currency,
    IReadOnlyList<string> EligiblePlatforms,
    PolicyVersion? PolicyInForce,
    IReadOnlyList<PolicyVersion> Policies,
    IReadOnlyList<PoolView> Pools,
    EntitlementTotals Entitlements,
    IReadOnlyList<RoundSummary> Rounds,
    string EstablishedBy,
    Instant EstablishedAt)
{
    public static FundView From(Fund fund, Instant now) => From(fund, now, r => RoundSummary.From(fund, r), EntitlementTotals.Of(fund, now));

    /// <param name="summary">Each round's summary (<see cref="RoundSummary.From(Fund, Round, decimal, int)"/> where the fund's payouts are not at hand).</param>
    /// <param name="entitlements">The entitlements' totals (<see cref="EntitlementRows.TotalsAsync"/> where the fund's entitlements are not at hand).</param>
    public static FundView From(Fund fund, Instant now, Func<Round, RoundSummary> summary, EntitlementTotals entitlements) =>
        new(fund.Id, fund.Version, fund.Name, fund.Sponsor, fund.Currency, fund.EligiblePlatforms, fund.PolicyInForce(now), fund.Policies,
            fund.Pools.Values.OrderBy(p => p.Sequence).Select(p => PoolView.From(fund, p)).ToArray(),
            entitlements,
            fund.Rounds.Values.OrderBy(r => r.Number).Select(summary).ToArray(),
            fund.EstablishedBy, fund.EstablishedAt);
}

public sealed record RoundSummary(Guid Id, int Number, RoundStatus Status, Money Total, int Allocations, int Carried, string PreparedBy, Instant PreparedAt, string? ReleasedBy)
{
    public static RoundSummary From(Fund fund, Round r)
    {
        if (r.ReleasedTotal is { } total && r.ReleasedAllocations is { } count) return From(fund, r, total, count);
        var allocations = fund.AllocationsOf(r);
        return From(fund, r, allocations.Sum(a => a.Amount.Amount), allocations.Count);
    }

    /// <summary>The summary from the round's allocation total and count (for a released round, its payouts' claim lines).</summary>
    public static RoundSummary From(Fund fund, Round r, decimal total, int allocations) =>
        new(r.Id, r.Number, r.Status, fund.Money(total), allocations, r.Carried.Count, r.PreparedBy, r.PreparedAt, r.ReleasedBy);
}

/// <summary>A round with every allocation (before release) and its payouts (after).</summary>
public sealed record RoundView(
    Guid Id,
    Guid FundId,
    int Number,
    RoundStatus Status,
    int PolicyVersion,
    Money Total,
    IReadOnlyList<RoundAllocation> Allocations,
    IReadOnlyList<CarriedAllocation> Carried,
    IReadOnlyList<PayoutView> Payouts,
    string PreparedBy,
    Instant PreparedAt,
    string? ReleasedBy,
    Instant? ReleasedAt)
{
    public static RoundView From(Fund fund, Round r) => From(fund, r, id => fund.Payouts[id]);

    /// <param name="payout">The round's payouts by id (from their rows where the fund's payouts are not at hand).</param>
    public static RoundView From(Fund fund, Round r, Func<Guid, Payout> payout)
    {
        var allocations = Fund.AllocationsOf(r, payout);
        return new(r.Id, fund.Id, r.Number, r.Status, r.PolicyVersion, fund.Money(allocations.Sum(a => a.Amount.Amount)), allocations, r.Carried,
            r.PayoutIds.Select(id => PayoutView.From(fund.Id, payout(id))).ToArray(), r.PreparedBy, r.PreparedAt, r.ReleasedBy, r.ReleasedAt);
    }
}

/// <param name="BankDetails">Corrected details of a reissue, account number masked; null means the buyer's own details.</param>
/// <param name="ClaimId">The claim, when the payout pays exactly one; <paramref name="Claims"/> lists every claim and pool it pays.</param>
/// <param name="PendingReissue">A reissue prepared and waiting for a second finance user's approval (account number masked).</param>
public sealed record PayoutView(
    Guid Id,
    string Reference,
    Guid FundId,
    Guid RoundId,
    Guid? ClaimId,
    string? ClaimReference,
    IReadOnlyList<string> ClaimReferences,
    Money Amount,
    IReadOnlyList<PoolAmount> Lines,
    IReadOnlyList<PayoutLine> Claims,
    PayoutStatus Status,
    string IssuedBy,
    Instant IssuedAt,
    Guid? ReissueOf,
    Guid? ReissuedAs,
    Instant? SettledAt,
    Instant? ReturnedAt,
    string? ReturnReason,
    BankDetails? BankDetails,
    PendingReissue? PendingReissue)
{
    public static PayoutView From(Fund fund, Payout p) => From(fund.Id, p);

    public static PayoutView From(Guid fundId, Payout p)
    {
        var claims = p.PerClaim;
        var only = PayoutLines.OnlyClaim(claims);
        var references = p.ClaimReferences;
        return new(p.Id, p.Reference, fundId, p.RoundId, only, only is null ? null : references[0],
            references, p.Amount, p.Lines, claims, p.Status, p.IssuedBy, p.IssuedAt, p.ReissueOf, p.ReissuedAs, p.SettledAt, p.ReturnedAt, p.ReturnReason,
            Masked(p.BankDetails), p.PendingReissue is { } pending ? pending with { BankDetails = Masked(pending.BankDetails)! } : null);
    }

    private static BankDetails? Masked(BankDetails? bank) => bank is null ? null : bank with { AccountNumber = AccountNumbers.Mask(bank.AccountNumber) };
}

/// <summary>
/// What the fund owes one claim and where that money is: set aside by a prepared round, in transit, or settled.
/// <see cref="StillOwed"/> is the claim's entitlement not yet committed; <see cref="PayableUnderCap"/> what a round prepared
/// now could commit to it, which is less when the policy's cap per buyer holds the rest back (zero once the buyer has reached it).
/// </summary>
public sealed record EntitlementView(
    Guid ClaimId,
    string ClaimReference,
    Guid CaseId,
    string Platform,
    string SupplierAccountId,
    string BuyerCountry,
    Guid? PerpetratorPoolId,
    Money Entitled,
    Money Allocated,
    Money InTransit,
    Money Settled,
    Money StillOwed,
    Money PayableUnderCap)
{
    public static EntitlementView From(Fund fund, Entitlement e, IReadOnlyDictionary<Guid, decimal> payable) =>
        new(e.ClaimId, e.ClaimReference, e.CaseId, e.Platform, e.SupplierAccountId, e.BuyerCountry, fund.PerpetratorPoolFor(e)?.Id,
            fund.Money(e.Amount), fund.Money(e.Allocated), fund.Money(e.InTransit), fund.Money(e.Settled), fund.Money(e.StillOwed),
            fund.Money(payable.GetValueOrDefault(e.ClaimId)));
}

/// <summary>One account of one pool in the trial balance: debits, credits and the debit-minus-credit balance.</summary>
public sealed record TrialBalanceLine(Guid PoolId, string Account, Money Debits, Money Credits, Money Balance);

public sealed record TrialBalance(Guid FundId, Instant AsOf, Money TotalDebits, Money TotalCredits, IReadOnlyList<TrialBalanceLine> Lines);

public static class GetFundEndpoints
{
    [WolverineGet("/api/funds/{fundId}", Name = "GetFund")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Fund")]
    [EndpointSummary("A fund: its policy, and its pools with deposited, allocated, in transit, settled, returned and available")]
    public static async Task<Results<Ok<FundView>, ProblemHttpResult>> Get(Guid fundId, IQuerySession session, IClock clock, CancellationToken ct)
    {
        // The fund's snapshot without its payouts, released rounds from the payout rows (FundDocumentViews).
        var view = await FundDocumentViews.FundAsync(session, fundId, clock.GetCurrentInstant(), ct);
        return view is null ? TypedResults.Problem(Problems.NotFound("Fund", fundId)) : TypedResults.Ok(view);
    }

    [WolverineGet("/api/funds/{fundId}/books", Name = "GetFundBooks")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Fund")]
    [EndpointSummary("The fund's trial balance per pool and account, from its events' postings, as of an instant")]
    public static async Task<Results<Ok<TrialBalance>, ProblemHttpResult>> Books(Guid fundId, IQuerySession session, IClock clock, CancellationToken ct, string? asOf = null)
    {
        var at = clock.GetCurrentInstant();
        if (asOf is not null)
        {
            var parsed = NodaTime.Text.InstantPattern.ExtendedIso.Parse(asOf);
            if (!parsed.Success) return TypedResults.Problem(Problems.Invalid("asOf", "must be an ISO instant, e.g. 2011-06-01T00:00:00Z."));
            at = parsed.Value;
        }
        // As of business time (the events' own ...At), the clock the ledger's decisions use. Only the fund's first event is
        // read (did the fund exist then?); the totals come from the postings table the report projection keeps inline with
        // Books.PostingsFor, two index lookups per pool and account instead of a replay of the fund's whole stream.
        var first = await session.Events.FetchStreamAsync(fundId, version: 1, token: ct);
        if (first.Count == 0 || first[0].Data is not FundEstablished established || Fund.OccurredAt(established) > at)
            return TypedResults.Problem(Problems.NotFound("Fund", fundId));
        var upTo = Reports.ReportTime.UpTo(at);
        var accounts = await Reports.ReportSql.AccountTotalsAsync(session, fundId, upTo, upTo, ct);
        var zero = Money.Zero(established.Currency);
        Money Amount(decimal amount) => new(Fund.Normalised(amount), established.Currency);
        var lines = accounts.Where(a => a.Debits != 0m || a.Credits != 0m)
            .OrderBy(a => a.PoolId).ThenBy(a => a.Account, StringComparer.Ordinal)
            .Select(a => new TrialBalanceLine(a.PoolId, a.Account, Amount(a.Debits), Amount(a.Credits), Amount(a.Debits - a.Credits))).ToArray();
        return TypedResults.Ok(new TrialBalance(fundId, at, lines.Aggregate(zero, (s, l) => s + l.Debits), lines.Aggregate(zero, (s, l) => s + l.Credits), lines));
    }

    [WolverineGet("/api/funds/{fundId}/entitlements", Name = "ListEntitlements")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Fund")]
    [EndpointSummary("What the fund owes each approved claim and how much of it is allocated, in transit or settled")]
    public static async Task<Results<Ok<PagedList<EntitlementView>>, ProblemHttpResult>> ListEntitlements(
        Guid fundId, IQuerySession session, IClock clock, CancellationToken ct, bool stillOwed = false, int page = 1, int pageSize = 50)
    {
        var check = new Validation();
        if (page < 1) check.Add("page", "must be 1 or more.");
        if (pageSize is < 1 or > 500) check.Add("pageSize", "must be between 1 and 500.");
        if (!check.IsValid) return TypedResults.Problem(check.ToProblem());
        // A page of the entitlements' rows, with the pools and policy of the fund's snapshot: FundDocumentViews.
        var list = await FundDocumentViews.EntitlementsAsync(session, fundId, stillOwed, page, pageSize, clock.GetCurrentInstant(), ct);
        return list is null ? TypedResults.Problem(Problems.NotFound("Fund", fundId)) : TypedResults.Ok(list);
    }

    [WolverineGet("/api/funds/{fundId}/bank-statements/{statementId}", Name = "GetBankStatement")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("An imported bank statement: each line and what it matched (unmatched and mismatched lines included)")]
    public static async Task<Results<Ok<BankStatementResult>, ProblemHttpResult>> GetBankStatement(Guid fundId, string statementId, IQuerySession session, CancellationToken ct)
    {
        // From the report table (every statement has at least one line), not the fund's document, which a statement-sized read
        // should not have to load whole.
        var statement = await Reports.Reconciliation.StatementAsync(session, statementId, Instant.MaxValue, ct, fundId);
        return statement is not null
            ? TypedResults.Ok(new BankStatementResult(statementId, true, statement.Lines))
            : TypedResults.Problem(Problems.NotFound("Bank statement", statementId));
    }

    [WolverineGet("/api/rounds/{roundId}", Name = "GetRound")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("A distribution round with every allocation and payout")]
    public static async Task<Results<Ok<RoundView>, ProblemHttpResult>> GetRound(Guid roundId, IQuerySession session, CancellationToken ct)
    {
        // The round from the fund's snapshot without its payouts, its payouts from their rows (FundDocumentViews).
        var view = await FundDocumentViews.RoundAsync(session, roundId, ct);
        return view is null ? TypedResults.Problem(Problems.NotFound("Round", roundId)) : TypedResults.Ok(view);
    }

    [WolverineGet("/api/payouts/{payoutId}", Name = "GetPayout")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("One payout")]
    public static async Task<Results<Ok<PayoutView>, ProblemHttpResult>> GetPayout(Guid payoutId, IQuerySession session, CancellationToken ct)
    {
        // From the payout's row, never the fund's document (PayoutViews).
        var payout = await PayoutViews.OneAsync(session, payoutId, ct);
        return payout is null ? TypedResults.Problem(Problems.NotFound("Payout", payoutId)) : TypedResults.Ok(payout);
    }

    [WolverineGet("/api/payouts", Name = "ListPayouts")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Payouts by status, in reference order")]
    public static async Task<Results<Ok<PagedList<PayoutView>>, ProblemHttpResult>> ListPayouts(
        IQuerySession session, CancellationToken ct, string? status = null, Guid? fundId = null, int page = 1, int pageSize = 50)
    {
        var check = new Validation();
        if (page < 1) check.Add("page", "must be 1 or more.");
        if (pageSize is < 1 or > 500) check.Add("pageSize", "must be between 1 and 500.");
        PayoutStatus? wanted = null;
        if (status is not null)
        {
            // As in JSON (in-transit) or as the C# name (InTransit).
            if (Enum.TryParse<PayoutStatus>(status.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var parsed) && !int.TryParse(status, out _)) wanted = parsed;
            else check.Add("status", "must be one of in-transit, settled, returned.");
        }
        if (!check.IsValid) return TypedResults.Problem(check.ToProblem());

        // A page from the payouts' rows, never the funds' documents (PayoutViews).
        return TypedResults.Ok(await PayoutViews.PageAsync(session, fundId, wanted, page, pageSize, ct));
    }
}
