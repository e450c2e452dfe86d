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
    /// <summary>Builds the statement from the fund's events alone (their postings, cut at their business time).</summary>
    public static FundStatementReport Build(Fund fund, IReadOnlyList<object> events, LocalDate from, LocalDate to, Instant? asOf)
    {
        var start = from.AtStartOfDayInZone(DateTimeZone.Utc).ToInstant();
        var end = to.PlusDays(1).AtStartOfDayInZone(DateTimeZone.Utc).ToInstant();
        if (asOf is { } cutoff && cutoff < end) end = cutoff + Duration.Epsilon;

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
        var total = new FundStatementLine(Guid.Empty, "(total)",
            fund.Money(lines.Sum(l => l.Opening.Amount)), fund.Money(lines.Sum(l => l.Deposits.Amount)), fund.Money(lines.Sum(l => l.Payouts.Amount)),
            fund.Money(lines.Sum(l => l.Returns.Amount)), fund.Money(lines.Sum(l => l.Closing.Amount)));
        return new FundStatementReport(fund.Id, fund.Name, from, to, asOf, lines, total);
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

        var fund = await session.LoadAsync<Fund>(fundGuid, ct);
        if (fund is null) return Problems.NotFound("Fund", fundGuid).ToResult();
        var events = (await session.Events.FetchStreamAsync(fundGuid, token: ct)).Select(e => e.Data).ToList();
        var report = FundStatement.Build(fund, events, fromDate!.Value, toDate!.Value, cutoff);
        return ReportResults.JsonOrCsv(request, report, FundStatement.ToCsv);
    }

}
