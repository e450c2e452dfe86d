using System.Text;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using NodaTime.Text;
using Wolverine.Http;

namespace CompensationLedger.Reports;

/// <summary>One account of one pool: its debit or credit balance (one of the two is zero).</summary>
public sealed record TrialBalanceLine(Guid PoolId, string Pool, string Account, Money Debit, Money Credit);

/// <summary>The fund's trial balance from its postings alone; debits equal credits, always.</summary>
public sealed record TrialBalanceReport(Guid FundId, string Fund, Instant? AsOf, IReadOnlyList<TrialBalanceLine> Lines, Money TotalDebits, Money TotalCredits)
{
    public bool Balances => TotalDebits == TotalCredits;
}

public static class TrialBalance
{
    /// <summary>The trial balance from the report tables: each pool account's running totals just after asOf. Null for an unknown fund.</summary>
    public static async Task<TrialBalanceReport?> LoadAsync(IQuerySession session, Guid fundId, Instant? asOf, CancellationToken ct)
    {
        if (await ReportSql.FundAsync(session, fundId, ct) is not { } fund) return null;
        var upTo = ReportTime.UpTo(asOf);
        var accounts = await ReportSql.AccountTotalsAsync(session, fundId, upTo, upTo, ct);
        Money Money(decimal amount) => new(Fund.Normalised(amount), fund.Currency);
        var lines = accounts
            .Select(a => (a.PoolId, a.Pool, a.Account, Balance: a.Debits - a.Credits))
            .Select(x => new TrialBalanceLine(x.PoolId, x.Pool, x.Account, Money(x.Balance > 0 ? x.Balance : 0m), Money(x.Balance < 0 ? -x.Balance : 0m)))
            .ToList();
        return new TrialBalanceReport(fundId, fund.Name, asOf, lines, Money(lines.Sum(l => l.Debit.Amount)), Money(lines.Sum(l => l.Credit.Amount)));
    }

    /// <summary>The trial balance's definition, from the fund's events alone: what <see cref="LoadAsync"/> must answer (tests hold the two equal).</summary>
    public static TrialBalanceReport FromEvents(Fund fund, IEnumerable<object> events, Instant? asOf)
    {
        var upTo = events.Where(e => asOf is null || Fund.OccurredAt(e) <= asOf).ToList();
        var pools = upTo.OfType<PoolOpened>().ToDictionary(p => p.PoolId, p => p.Name);
        var balances = Books.Balances(upTo.SelectMany(Books.PostingsFor));
        var lines = pools
            .SelectMany(pool => Books.Accounts.Select(account => (Pool: pool, Account: account, Balance: balances.GetValueOrDefault((pool.Key, account)))))
            .Select(x => new TrialBalanceLine(x.Pool.Key, x.Pool.Value, x.Account,
                fund.Money(x.Balance > 0 ? x.Balance : 0m), fund.Money(x.Balance < 0 ? -x.Balance : 0m)))
            .ToList();
        return new TrialBalanceReport(fund.Id, fund.Name, asOf, lines,
            fund.Money(lines.Sum(l => l.Debit.Amount)), fund.Money(lines.Sum(l => l.Credit.Amount)));
    }

    public static string ToCsv(TrialBalanceReport report)
    {
        var csv = new StringBuilder("pool,account,currency,debit,credit\r\n");
        foreach (var l in report.Lines)
            csv.Append(string.Join(',', new[] { l.Pool, l.Account, l.Debit.Currency, PaidVsLost.Amount(l.Debit), PaidVsLost.Amount(l.Credit) }.Select(PaidVsLost.Field))).Append("\r\n");
        csv.Append(string.Join(',', new[] { "(total)", "", report.TotalDebits.Currency, PaidVsLost.Amount(report.TotalDebits), PaidVsLost.Amount(report.TotalCredits) }.Select(PaidVsLost.Field))).Append("\r\n");
        return csv.ToString();
    }
}

public static class TrialBalanceEndpoint
{
    [WolverineGet("/api/reports/trial-balance", Name = "TrialBalanceReport")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Reports")]
    [ProducesResponseType<TrialBalanceReport>(StatusCodes.Status200OK, "application/json", PaidVsLost.CsvMediaType)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [EndpointSummary("A fund's trial balance from its double-entry postings (debits = credits), per pool and account; asOf an instant; CSV with Accept: text/csv")]
    public static async Task<IResult> Get(IQuerySession session, HttpRequest request, CancellationToken ct, string? fundId = null, string? asOf = null)
    {
        var check = new Validation();
        Guid fundGuid = default;
        if (fundId is null || !Guid.TryParse(fundId, out fundGuid)) check.Add("fundId", "is required: a fund id (a UUID).");
        var cutoff = check.Instant("asOf", asOf);
        if (!check.IsValid) return check.ToProblem().ToResult();

        var report = await TrialBalance.LoadAsync(session, fundGuid, cutoff, ct);
        return report is null ? Problems.NotFound("Fund", fundGuid).ToResult() : ReportResults.JsonOrCsv(request, report, TrialBalance.ToCsv);
    }
}
