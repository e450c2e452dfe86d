using System.Globalization;
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

/// <summary>
/// One pool's movement over the period. "Held" is the money still in the fund's hands for the pool
/// (available plus set aside for a prepared round); payouts are the transfers released (and reissued),
/// returns what the bank sent back. It ties out: opening + deposits - payouts + returns = closing.
/// </summary>
public sealed record FundStatementLine(Guid PoolId, string Pool, Money Opening, Money Deposits, Money Payouts, Money Returns, Money Closing)
{
    public bool TiesOut => Opening + Deposits - Payouts + Returns == Closing;
}

public sealed record FundStatementReport(Guid FundId, string Fund, LocalDate From, LocalDate To, Instant? AsOf, IReadOnlyList<FundStatementLine> Pools, FundStatementLine Total);

public static class FundStatement
{
    /// <summary>
    /// The statement from the report tables (<see cref="FundReportProjection"/>): each pool's running account totals at the
    /// start and the end of the period. Held = pool-cash + claims-allocated; deposits are the credits to contributions,
    /// payouts the debits to payouts-in-transit, returns the credits to payouts-in-transit that were not settled (the debits
    /// to compensation-paid), as <see cref="Books.PostingsFor"/> posts them. Null for an unknown fund.
    /// </summary>
    public static async Task<FundStatementReport?> LoadAsync(IQuerySession session, Guid fundId, LocalDate from, LocalDate to, Instant? asOf, CancellationToken ct)
    {
        if (await ReportSql.FundAsync(session, fundId, ct) is not { } fund) return null;
        var (start, end) = Bounds(from, to, asOf);
        var accounts = await ReportSql.AccountTotalsAsync(session, fundId, ReportTime.Ns(start), ReportTime.Ns(end), ct);
        Money Money(decimal amount) => new(Fund.Normalised(amount), fund.Currency);
        var lines = accounts.GroupBy(a => (a.PoolId, a.Pool)).Select(pool =>
            {
                var account = pool.ToDictionary(a => a.Account);
                decimal Held(bool atEnd) => account[Books.PoolCash].Balance(atEnd) + account[Books.ClaimsAllocated].Balance(atEnd);
                decimal Debited(string name) => account[name].Debit(atEnd: true) - account[name].Debit(atEnd: false);
                decimal Credited(string name) => account[name].Credit(atEnd: true) - account[name].Credit(atEnd: false);
                return new FundStatementLine(pool.Key.PoolId, pool.Key.Pool,
                    Money(Held(atEnd: false)),
                    Money(Credited(Books.Contributions)),
                    Money(Debited(Books.PayoutsInTransit)),
                    Money(Credited(Books.PayoutsInTransit) - Debited(Books.CompensationPaid)),
                    Money(Held(atEnd: true)));
            })
            .ToList();
        return new FundStatementReport(fundId, fund.Name, from, to, asOf, lines, Total(lines, Money));
    }

    /// <summary>The period as instants: [start of from, start of the day after to), cut just after asOf when that is earlier.</summary>
    private static (Instant Start, Instant End) Bounds(LocalDate from, LocalDate to, Instant? asOf)
    {
        var start = from.AtStartOfDayInZone(DateTimeZone.Utc).ToInstant();
        var end = to.PlusDays(1).AtStartOfDayInZone(DateTimeZone.Utc).ToInstant();
        if (asOf is { } cutoff && cutoff < end) end = cutoff + Duration.Epsilon;
        return (start, end);
    }

    private static FundStatementLine Total(IReadOnlyList<FundStatementLine> lines, Func<decimal, Money> money) =>
        new(Guid.Empty, "(total)",
            money(lines.Sum(l => l.Opening.Amount)), money(lines.Sum(l => l.Deposits.Amount)), money(lines.Sum(l => l.Payouts.Amount)),
            money(lines.Sum(l => l.Returns.Amount)), money(lines.Sum(l => l.Closing.Amount)));

    /// <summary>
    /// The statement's definition, from the fund's events alone (their postings, cut at their business time): what
    /// <see cref="LoadAsync"/> must answer. The endpoint never replays; tests hold the two equal.
    /// </summary>
    public static FundStatementReport FromEvents(Fund fund, IReadOnlyList<object> events, LocalDate from, LocalDate to, Instant? asOf)
    {
        var (start, end) = Bounds(from, to, asOf);

        var dated = events.Select(e => (Event: e, At: Fund.OccurredAt(e))).Where(x => x.At < end).ToList();
        decimal Held(IEnumerable<(object Event, Instant At)> upTo, Guid pool) =>
            upTo.SelectMany(x => Books.PostingsFor(x.Event))
                .Where(p => p.PoolId == pool && p.Account is Books.PoolCash or Books.ClaimsAllocated)
                .Sum(p => p.Debit.Amount - p.Credit.Amount);
        decimal Sum(IEnumerable<(object Event, Instant At)> period, Guid pool, Func<object, IEnumerable<PoolAmount>> amounts) =>
            period.SelectMany(x => amounts(x.Event)).Where(a => a.PoolId == pool).Sum(a => a.Amount.Amount);

        var before = dated.Where(x => x.At < start).ToList();
        var during = dated.Where(x => x.At >= start).ToList();
        var pools = dated.Select(x => x.Event).OfType<PoolOpened>().ToList();
        var lines = pools.Select(p => new FundStatementLine(p.PoolId, p.Name,
                fund.Money(Held(before, p.PoolId)),
                fund.Money(Sum(during, p.PoolId, e => e is PoolDeposited d ? [new PoolAmount(d.PoolId, d.Amount)] : [])),
                fund.Money(Sum(during, p.PoolId, e => e switch
                {
                    RoundReleased r => r.Payouts.SelectMany(x => x.Lines),
                    PayoutReissued r => r.Lines,
                    _ => [],
                })),
                fund.Money(Sum(during, p.PoolId, e => e is PayoutReturned r ? r.Lines : [])),
                fund.Money(Held(dated, p.PoolId))))
            .ToList();
        return new FundStatementReport(fund.Id, fund.Name, from, to, asOf, lines, Total(lines, fund.Money));
    }

    public static string ToCsv(FundStatementReport report)
    {
        var csv = new StringBuilder("pool,currency,opening,deposits,payouts,returns,closing\r\n");
        foreach (var l in report.Pools.Append(report.Total))
            csv.Append(string.Join(',', new[] { l.Pool, l.Opening.Currency, PaidVsLost.Amount(l.Opening), PaidVsLost.Amount(l.Deposits),
                PaidVsLost.Amount(l.Payouts), PaidVsLost.Amount(l.Returns), PaidVsLost.Amount(l.Closing) }.Select(PaidVsLost.Field))).Append("\r\n");
        return csv.ToString();
    }
}

public static class FundStatementEndpoint
{
    [WolverineGet("/api/reports/fund-statement", Name = "FundStatementReport")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Reports")]
    [ProducesResponseType<FundStatementReport>(StatusCodes.Status200OK, "application/json", PaidVsLost.CsvMediaType)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [EndpointSummary("A fund's statement for from..to (ISO dates, UTC): opening, deposits, payouts, returns, closing per pool and in total; asOf an instant; CSV with Accept: text/csv")]
    public static async Task<IResult> Get(IQuerySession session, HttpRequest request, CancellationToken ct,
        string? fundId = null, string? from = null, string? to = null, string? asOf = null)
    {
        var check = new Validation();
        Guid fundGuid = default;
        if (fundId is null || !Guid.TryParse(fundId, out fundGuid)) check.Add("fundId", "is required: a fund id (a UUID).");
        var fromDate = check.Date("from", from, required: true);
        var toDate = check.Date("to", to, required: true);
        if (fromDate is { } f && toDate is { } t && t < f) check.Add("to", "must be on or after from.");
        var cutoff = check.Instant("asOf", asOf);
        if (!check.IsValid) return check.ToProblem().ToResult();

        var report = await FundStatement.LoadAsync(session, fundGuid, fromDate!.Value, toDate!.Value, cutoff, ct);
        return report is null ? Problems.NotFound("Fund", fundGuid).ToResult() : ReportResults.JsonOrCsv(request, report, FundStatement.ToCsv);
    }

}
