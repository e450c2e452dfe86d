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

/// <summary>One payout as the register lists it, with its status as of the report's instant.</summary>
/// <param name="ClaimReference">The claims the payout pays (one payout per buyer), references separated by a space.</param>
/// <param name="ClaimId">The claim when the payout pays exactly one.</param>
public sealed record PayoutRegisterLine(
    string PayoutReference,
    Guid PayoutId,
    Guid FundId,
    string Fund,
    Guid RoundId,
    string ClaimReference,
    Guid? ClaimId,
    Money Amount,
    PayoutStatus Status,
    Instant IssuedAt,
    Instant? SettledAt,
    Instant? ReturnedAt,
    string? ReturnReason,
    Guid? ReissueOf);

/// <summary>
/// The payouts issued in a period (by issue date, UTC, both ends included), with totals per currency. The totals and
/// <see cref="TotalPayouts"/> are over the whole period; <see cref="Payouts"/> holds one page of its lines (all of them in CSV).
/// </summary>
public sealed record PayoutRegisterReport(
    LocalDate? From,
    LocalDate? To,
    Instant? AsOf,
    IReadOnlyList<PayoutRegisterLine> Payouts,
    IReadOnlyList<Money> Issued,
    IReadOnlyList<Money> Settled,
    IReadOnlyList<Money> Returned,
    IReadOnlyList<Money> InTransit,
    int Page,
    int PageSize,
    int TotalPayouts);

/// <summary>Which lines of the register to list: page numbers from 1, in issue order.</summary>
public readonly record struct RegisterPage(int Number, int Size)
{
    public const int DefaultSize = 500;
    public const int MaxSize = 5000;
}

public static class PayoutRegister
{
    /// <summary>
    /// The register from the payouts table (<see cref="FundReportProjection"/>), read by issue time (index on
    /// <c>issued_at_ns</c>, with the fund first when one is asked for): only the period's payouts are read. The totals are
    /// summed by PostgreSQL over the whole period; only the asked page of lines (all of them when <paramref name="page"/> is
    /// null) is read, so a register of a hundred thousand payouts answers a page without loading the rest.
    /// </summary>
    public static async Task<PayoutRegisterReport> LoadAsync(IQuerySession session, Guid? fundId, LocalDate? from, LocalDate? to, Instant? asOf,
        CancellationToken ct, RegisterPage? page = null)
    {
        var schema = session.DocumentStore.Options.DatabaseSchemaName;
        var issuedFrom = from is { } f ? ReportTime.Ns(f.AtStartOfDayInZone(DateTimeZone.Utc).ToInstant()) : long.MinValue;
        var issuedBefore = Math.Min(ReportTime.UpTo(asOf), to is { } t ? ReportTime.Ns(t.PlusDays(1).AtStartOfDayInZone(DateTimeZone.Utc).ToInstant()) : long.MaxValue);
        var upTo = ReportTime.UpTo(asOf);
        var where = $"p.issued_at_ns >= @from and p.issued_at_ns < @before {(fundId is null ? "" : "and p.fund_id = @fund")}";
        (string, object)[] parameters = [("from", issuedFrom), ("before", issuedBefore), ("fund", fundId ?? Guid.Empty), ("upTo", upTo),
            ("take", page is { } l ? l.Size : int.MaxValue), ("skip", page is { } s ? (long)(s.Number - 1) * s.Size : 0L)];

        // A payout's status as of the instant, as Line decides it: returned first, then settled, else in transit. "Now" (no asOf) is
        // summed from the day totals the projection keeps (a few rows per fund and day); as of an instant, from the payouts' rows.
        var totals = asOf is null
            ? await DayTotalsAsync(session, schema, fundId, issuedFrom, issuedBefore, ct)
            : await ReportSql.ReadAsync(session, $"""
            select p.currency,
                   case when p.returned_at_ns < @upTo then 'returned' when p.settled_at_ns < @upTo then 'settled' else 'in-transit' end,
                   count(*)::int, sum(p.amount)
            from {schema}.{FundReportProjection.PayoutsTable} p
            where {where}
            group by 1, 2
            """, r => (Currency: r.GetString(0), Status: r.GetString(1), Count: r.GetInt32(2), Amount: new Money(r.GetDecimal(3), r.GetString(0))),
            ct, parameters);

        var sql = $"""
                   select p.payout_id, p.reference, p.fund_id, f.name, p.round_id, p.claim_reference, p.claim_id, p.amount, p.currency,
                          p.issued_at_ns, p.settled_at_ns, p.returned_at_ns, p.return_reason, p.reissue_of
                   from {schema}.{FundReportProjection.PayoutsTable} p join {schema}.{FundReportProjection.FundsTable} f on f.fund_id = p.fund_id
                   where {where}
                   order by p.issued_at_ns, p.reference collate "C"
                   limit @take offset @skip
                   """;
        Instant? At(Npgsql.NpgsqlDataReader r, int column) => r.IsDBNull(column) ? null : ReportTime.FromNs(r.GetInt64(column));
        var payouts = await ReportSql.ReadAsync(session, sql, r => (FundId: r.GetGuid(2), Fund: r.GetString(3), ClaimId: r.IsDBNull(6) ? (Guid?)null : r.GetGuid(6),
            ClaimReferences: r.GetString(5), Payout: new Payout(
                r.GetGuid(0), r.GetString(1), r.GetGuid(4), r.IsDBNull(6) ? null : r.GetGuid(6), r.GetString(5), Lines: [], new Money(r.GetDecimal(7), r.GetString(8)), PayoutStatus.InTransit,
                ReportTime.FromNs(r.GetInt64(9)), IssuedBy: "", BankDetails: null, ReissueOf: r.IsDBNull(13) ? null : r.GetGuid(13), ReissuedAs: null,
                SettledAt: At(r, 10), ReturnedAt: At(r, 11), ReturnReason: r.IsDBNull(12) ? null : r.GetString(12))),
            ct, parameters);

        IReadOnlyList<Money> Sum(string? status) =>
            [.. totals.Where(x => status is null || x.Status == status).GroupBy(x => x.Currency).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => g.Select(x => x.Amount).Aggregate((a, b) => a + b))];
        var count = totals.Sum(x => x.Count);
        var lines = payouts.Select(p => Line(p.FundId, p.Fund, p.Payout, p.ClaimId, p.ClaimReferences, asOf)).ToList();
        return new PayoutRegisterReport(from, to, asOf, lines, Sum(null), Sum("settled"), Sum("returned"), Sum("in-transit"),
            page?.Number ?? 1, page?.Size ?? count, count);
    }

    /// <summary>
    /// The register's totals now, per currency and status, from <see cref="FundReportProjection.PayoutDaysTable"/>: the days from the
    /// one of <paramref name="issuedFrom"/> to the one before <paramref name="issuedBefore"/> (both at the start of a UTC day, or open).
    /// </summary>
    private static async Task<List<(string Currency, string Status, int Count, Money Amount)>> DayTotalsAsync(IQuerySession session, string schema, Guid? fundId,
        long issuedFrom, long issuedBefore, CancellationToken ct)
    {
        var fromDay = issuedFrom == long.MinValue ? int.MinValue : FundReportProjection.DayNumber(issuedFrom);
        var beforeDay = issuedBefore == long.MaxValue ? (long)int.MaxValue + 1 : FundReportProjection.DayNumber(issuedBefore);
        var rows = await ReportSql.ReadAsync(session, $"""
            select d.currency, sum(d.in_transit_count)::int, sum(d.in_transit_amount), sum(d.settled_count)::int, sum(d.settled_amount),
                   sum(d.returned_count)::int, sum(d.returned_amount)
            from {schema}.{FundReportProjection.PayoutDaysTable} d
            where d.day >= @fromDay and d.day < @beforeDay {(fundId is null ? "" : "and d.fund_id = @fund")}
            group by d.currency
            """, r => (Currency: r.GetString(0), InTransit: (r.GetInt32(1), r.GetDecimal(2)), Settled: (r.GetInt32(3), r.GetDecimal(4)), Returned: (r.GetInt32(5), r.GetDecimal(6))),
            ct, ("fromDay", fromDay), ("beforeDay", beforeDay), ("fund", fundId ?? Guid.Empty));
        return
        [
            .. rows.SelectMany(r => new[] { ("in-transit", r.InTransit), ("settled", r.Settled), ("returned", r.Returned) }
                .Where(s => s.Item2.Item1 > 0)
                .Select(s => (r.Currency, s.Item1, s.Item2.Item1, new Money(s.Item2.Item2, r.Currency)))),
        ];
    }

    /// <summary>
    /// The register's definition, from the funds' payouts: what <see cref="LoadAsync"/> must answer (tests hold the two equal).
    /// As of an instant, a payout issued later is left out and one settled or returned later is still in transit: the
    /// payout's own business times say what was known then.
    /// </summary>
    public static PayoutRegisterReport FromFunds(IEnumerable<Fund> funds, LocalDate? from, LocalDate? to, Instant? asOf) =>
        Report(funds
            .SelectMany(f => f.Payouts.Values.Select(p => (Fund: f, Payout: p)))
            .Where(x => asOf is null || x.Payout.IssuedAt <= asOf)
            .Where(x => from is null || x.Payout.IssuedAt.InUtc().Date >= from)
            .Where(x => to is null || x.Payout.IssuedAt.InUtc().Date <= to)
            .Select(x => Line(x.Fund.Id, x.Fund.Name, x.Payout, asOf)), from, to, asOf);

    private static PayoutRegisterReport Report(IEnumerable<PayoutRegisterLine> selected, LocalDate? from, LocalDate? to, Instant? asOf)
    {
        var lines = selected.OrderBy(l => l.IssuedAt).ThenBy(l => l.PayoutReference, StringComparer.Ordinal).ToList();

        static IReadOnlyList<Money> Totals(IEnumerable<PayoutRegisterLine> selected) =>
            [.. selected.GroupBy(l => l.Amount.Currency).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => g.Select(l => l.Amount).Aggregate((a, b) => a + b))];

        return new PayoutRegisterReport(from, to, asOf, lines,
            Totals(lines),
            Totals(lines.Where(l => l.Status == PayoutStatus.Settled)),
            Totals(lines.Where(l => l.Status == PayoutStatus.Returned)),
            Totals(lines.Where(l => l.Status == PayoutStatus.InTransit)),
            1, lines.Count, lines.Count);
    }

    private static PayoutRegisterLine Line(Guid fundId, string fundName, Payout p, Instant? asOf)
    {
        var (claimId, claimReferences) = FundReportProjection.Claims(p.PerClaim);
        return Line(fundId, fundName, p, claimId, claimReferences, asOf);
    }

    /// <param name="claimId">The claim when the payout pays one.</param>
    /// <param name="claimReferences">The claims it pays, references in ordinal order separated by a space.</param>
    private static PayoutRegisterLine Line(Guid fundId, string fundName, Payout p, Guid? claimId, string claimReferences, Instant? asOf)
    {
        var settled = p.SettledAt is { } s && (asOf is null || s <= asOf) ? p.SettledAt : null;
        var returned = p.ReturnedAt is { } r && (asOf is null || r <= asOf) ? p.ReturnedAt : null;
        var status = returned is not null ? PayoutStatus.Returned : settled is not null ? PayoutStatus.Settled : PayoutStatus.InTransit;
        return new PayoutRegisterLine(p.Reference, p.Id, fundId, fundName, p.RoundId, claimReferences, claimId, p.Amount, status,
            p.IssuedAt, settled, returned, returned is null ? null : p.ReturnReason, p.ReissueOf);
    }

    public static string ToCsv(PayoutRegisterReport report)
    {
        var csv = new StringBuilder("payout_reference,claim_reference,fund,round_id,amount,currency,status,issued_at,settled_at,returned_at,return_reason,reissue_of\r\n");
        foreach (var l in report.Payouts)
        {
            string[] fields =
            [
                l.PayoutReference, l.ClaimReference, l.Fund, l.RoundId.ToString(), PaidVsLost.Amount(l.Amount), l.Amount.Currency,
                l.Status switch { PayoutStatus.InTransit => "in-transit", _ => l.Status.ToString().ToLowerInvariant() },
                InstantPattern.ExtendedIso.Format(l.IssuedAt),
                l.SettledAt is { } s ? InstantPattern.ExtendedIso.Format(s) : "",
                l.ReturnedAt is { } r ? InstantPattern.ExtendedIso.Format(r) : "",
                l.ReturnReason ?? "", l.ReissueOf?.ToString() ?? "",
            ];
            csv.Append(string.Join(',', fields.Select(PaidVsLost.Field))).Append("\r\n");
        }
        return csv.ToString();
    }
}

public static class PayoutRegisterEndpoint
{
    [WolverineGet("/api/reports/payout-register", Name = "PayoutRegisterReport")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Reports")]
    [ProducesResponseType<PayoutRegisterReport>(StatusCodes.Status200OK, "application/json", PaidVsLost.CsvMediaType)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [EndpointSummary("Payouts issued from..to (ISO dates, by issue date), of one fund or all, with status as of asOf; totals over the period, lines a page at a time (page, pageSize); CSV (Accept: text/csv) has every line")]
    public static async Task<IResult> Get(IQuerySession session, HttpRequest request, CancellationToken ct,
        string? from = null, string? to = null, string? fundId = null, string? asOf = null, int page = 1, int pageSize = RegisterPage.DefaultSize)
    {
        var check = new Validation();
        if (page < 1) check.Add("page", "must be 1 or more.");
        if (pageSize is < 1 or > RegisterPage.MaxSize) check.Add("pageSize", $"must be between 1 and {RegisterPage.MaxSize}.");
        var fromDate = check.Date("from", from);
        var toDate = check.Date("to", to);
        if (fromDate is not null && toDate is not null && toDate < fromDate) check.Add("to", "must be on or after from.");
        var cutoff = check.Instant("asOf", asOf);
        Guid? fund = null;
        if (fundId is not null)
        {
            if (Guid.TryParse(fundId, out var id)) fund = id;
            else check.Add("fundId", "must be a fund id (a UUID).");
        }
        if (!check.IsValid) return check.ToProblem().ToResult();

        if (fund is { } oneFund && await ReportSql.FundAsync(session, oneFund, ct) is null) return Problems.NotFound("Fund", oneFund).ToResult();
        // A spreadsheet export wants the whole period in one file; JSON clients page through it.
        var wantsCsv = PaidVsLostEndpoint.WantsCsv(request);
        var report = await PayoutRegister.LoadAsync(session, fund, fromDate, toDate, cutoff, ct, wantsCsv ? null : new RegisterPage(page, pageSize));
        return ReportResults.JsonOrCsv(request, report, PayoutRegister.ToCsv);
    }

}
