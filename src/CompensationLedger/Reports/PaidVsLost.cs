using System.Globalization;
using System.Text;
using CompensationLedger.Cases;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using JasperFx.Events;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using NodaTime.Text;
using Wolverine.Http;

namespace CompensationLedger.Reports;

/// <summary>How the paid-versus-lost report groups claims. HTTP names them in lower case (<c>groupBy=platform</c>).</summary>
public enum PaidVsLostGrouping
{
    Case,
    Platform,
    Supplier,
    Country,
    Month,
}

/// <summary>One group's key (e.g. <c>Alibaba.com</c>, <c>Alibaba.com/cnxinda2010</c>, <c>US</c>, <c>2011-02</c>) and its totals.</summary>
public sealed record PaidVsLostGroup(string Key, ClaimTotals Totals);

/// <summary>
/// Of what buyers lost, how much has been paid back, per group and in total. <see cref="AsOf"/> is null for "now"; otherwise
/// the figures count the events up to that instant (business time). Both are answered from <see cref="ClaimTotalsProjection"/>'s tables.
/// </summary>
public sealed record PaidVsLostReport(Guid? CaseId, PaidVsLostGrouping? GroupBy, Instant? AsOf, string FundCurrency,
    IReadOnlyList<PaidVsLostGroup> Groups, ClaimTotals Total);

/// <summary>The pure part of the report: grouping lines and writing CSV.</summary>
public static class PaidVsLost
{
    public const string CsvMediaType = "text/csv";
    public const string TotalKey = "(total)";

    public static string KeyOf(ClaimTotalsLine line, PaidVsLostGrouping grouping) => grouping switch
    {
        PaidVsLostGrouping.Case => line.CaseId.ToString(),
        PaidVsLostGrouping.Platform => line.Platform,
        PaidVsLostGrouping.Supplier => $"{line.Platform}/{line.SupplierAccount}",
        PaidVsLostGrouping.Country => line.BuyerCountry,
        PaidVsLostGrouping.Month => line.PaymentMonth,
        _ => throw new ArgumentOutOfRangeException(nameof(grouping)),
    };

    /// <summary>Groups in ordinal key order (months sort chronologically as <c>yyyy-MM</c>), then the total.</summary>
    public static PaidVsLostReport Build(IReadOnlyList<ClaimTotalsLine> lines, Guid? caseId, PaidVsLostGrouping? grouping, Instant? asOf, string fundCurrency)
    {
        IReadOnlyList<PaidVsLostGroup> groups = grouping is { } by
            ? [.. lines.GroupBy(l => KeyOf(l, by)).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => new PaidVsLostGroup(g.Key, ClaimTotals.Sum(g, fundCurrency)))]
            : [];
        return new PaidVsLostReport(caseId, grouping, asOf, fundCurrency, groups, ClaimTotals.Sum(lines, fundCurrency));
    }

    public static string GroupingName(PaidVsLostGrouping grouping) => grouping.ToString().ToLowerInvariant();

    public static PaidVsLostGrouping? ParseGrouping(string text) =>
        Enum.GetValues<PaidVsLostGrouping>().Select(g => (PaidVsLostGrouping?)g).FirstOrDefault(g => GroupingName(g!.Value) == text.Trim().ToLowerInvariant());

    private static readonly string[] AmountColumns = ["claimed", "verified", "entitled", "paid", "returned", "outstanding"];

    /// <summary>
    /// CSV (RFC 4180, CRLF): one row per group in the fund currency with every figure, then one row per other currency
    /// with the losses not yet converted (claimed, verified; the rest empty), then the same for the total
    /// (group <c>(total)</c>). Columns never move: group, currency, the amounts, paid_to_lost, claims, one per status.
    /// </summary>
    public static string ToCsv(PaidVsLostReport report)
    {
        var statuses = Enum.GetValues<ClaimStatus>().Select(ListClaimsEndpoint.StatusName).ToArray();
        var csv = new StringBuilder();
        Row(csv, ["group", "currency", .. AmountColumns, "paid_to_lost", "claims", .. statuses]);
        foreach (var group in report.Groups) Rows(csv, group.Key, group.Totals, statuses);
        Rows(csv, TotalKey, report.Total, statuses);
        return csv.ToString();
    }

    private static void Rows(StringBuilder csv, string key, ClaimTotals totals, string[] statuses)
    {
        Row(csv, [key, totals.Claimed.Currency,
            Amount(totals.Claimed), Amount(totals.Verified), Amount(totals.Entitled), Amount(totals.Paid), Amount(totals.Returned), Amount(totals.Outstanding),
            totals.PaidToLost?.ToString("0.0000", CultureInfo.InvariantCulture) ?? "",
            totals.Claims.ToString(CultureInfo.InvariantCulture),
            .. statuses.Select(s => totals.ByStatus[s].ToString(CultureInfo.InvariantCulture))]);
        var currencies = totals.ClaimedUnconverted.Select(m => m.Currency).Union(totals.VerifiedUnconverted.Select(m => m.Currency)).Order(StringComparer.Ordinal);
        foreach (var currency in currencies)
        {
            var claimed = totals.ClaimedUnconverted.FirstOrDefault(m => m.Currency == currency, Money.Zero(currency));
            var verified = totals.VerifiedUnconverted.FirstOrDefault(m => m.Currency == currency, Money.Zero(currency));
            Row(csv, [key, currency, Amount(claimed), Amount(verified), "", "", "", "", "", "", .. statuses.Select(_ => "")]);
        }
    }

    /// <summary>The amount with exactly the currency's decimal places, invariant culture, no grouping separators.</summary>
    public static string Amount(Money money) =>
        money.Amount.ToString("F" + (Currencies.MinorUnits(money.Currency) ?? 2), CultureInfo.InvariantCulture);

    private static void Row(StringBuilder csv, IEnumerable<string> fields) =>
        csv.Append(string.Join(',', fields.Select(Field))).Append("\r\n");

    /// <summary>Quotes what needs quoting, and defuses text a spreadsheet would run as a formula (keys come from user input).</summary>
    public static string Field(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r' && !decimal.TryParse(value, NumberStyles.Number, CultureInfo.InvariantCulture, out _))
            value = "'" + value;
        return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}

/// <summary>The lines behind a report, for checking it: from the projection now, or folded from the events for a past instant (the definition).</summary>
public static class ClaimTotalsSource
{
    /// <summary>
    /// Every line of the case (of all cases) now, read from <see cref="ClaimTotalsProjection"/>'s claim rows: the input of
    /// <see cref="PaidVsLost.Build"/> (the report itself sums in SQL, <see cref="ClaimTotalsSql"/>), and what tests compare with a fold.
    /// </summary>
    public static async Task<IReadOnlyList<ClaimTotalsLine>> Now(IQuerySession session, Guid? caseId, CancellationToken ct)
    {
        var sql = $"""
                   select claim_id, case_id, platform, supplier_account, buyer_country, payment_date, fund_currency, amount_paid, paid_currency, loss,
                          status, resume_status, verified_eligible, entitled, paid, returned, last_event_at_ns
                   from {session.DocumentStore.Options.DatabaseSchemaName}.{ClaimTotalsProjection.ClaimsTable}
                   {(caseId is null ? "" : "where case_id = @case")}
                   """;
        return await ReportSql.ReadAsync(session, sql, r => new ClaimTotalsLine(
            r.GetGuid(0), r.GetGuid(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetFieldValue<LocalDate>(5), r.GetString(6),
            new Money(r.GetDecimal(7), r.GetString(8)), r.IsDBNull(9) ? null : r.GetDecimal(9),
            ListClaimsEndpoint.ParseStatus(r.GetString(10))!.Value, r.IsDBNull(11) ? null : ListClaimsEndpoint.ParseStatus(r.GetString(11)),
            r.GetBoolean(12), r.GetDecimal(13), r.GetDecimal(14), r.GetDecimal(15), ReportTime.FromNs(r.GetInt64(16))),
            ct, caseId is { } id ? [("case", id)] : []);
    }

    /// <summary>
    /// The lines as of an instant, folded from the claim streams of the case (all claim events without a case):
    /// the same fold the projection applies, cut at the events' business time.
    /// </summary>
    public static async Task<IReadOnlyList<ClaimTotalsLine>> AsOf(IQuerySession session, Guid? caseId, Instant asOf, CancellationToken ct)
    {
        IQueryable<IEvent> events = session.Events.QueryAllRawEvents();
        if (caseId is { } id)
        {
            var claimIds = await session.Query<Claim>().Where(c => c.CaseId == id).Select(c => c.Id).ToListAsync(ct);
            if (claimIds.Count == 0) return [];
            // The claims' own streams, and the fund streams where their payouts settle or return.
            var fund = await Funds.CaseCoverages.FundIdOf(session, id, ct);
            var streams = (fund is { } f ? claimIds.Append(f) : claimIds).ToArray();
            events = events.Where(e => e.StreamId.IsOneOf(streams));
        }
        var list = await events.OrderBy(e => e.Sequence).ToListAsync(ct);
        return ClaimTotalsLine.Fold(list.Select(e => e.Data), asOf);
    }
}

/// <summary>Every report answers JSON, or CSV when the client asks for <c>text/csv</c>.</summary>
public static class ReportResults
{
    public static IResult JsonOrCsv<T>(HttpRequest request, T report, Func<T, string> toCsv) =>
        PaidVsLostEndpoint.WantsCsv(request)
            ? Results.Text(toCsv(report), PaidVsLost.CsvMediaType + "; charset=utf-8", Encoding.UTF8)
            : TypedResults.Ok(report);
}

public static class PaidVsLostEndpoint
{
    public sealed record Query(Guid? CaseId, PaidVsLostGrouping? GroupBy, Instant? AsOf, string FundCurrency);

    /// <summary>Parses and checks the query: 400 naming the field, 404 for an unknown case.</summary>
    public static async Task<(Query? Query, ProblemDetails? Problem)> Parse(IQuerySession session, ClaimPolicySettings policy, string? caseId, string? groupBy,
        string? asOf, CancellationToken ct, IReadOnlyCollection<PaidVsLostGrouping>? allowed = null)
    {
        var check = new Validation();
        Guid? caseGuid = null;
        if (!string.IsNullOrWhiteSpace(caseId))
        {
            if (Guid.TryParse(caseId, out var parsed)) caseGuid = parsed;
            else check.Add("caseId", "must be a case id (a GUID).");
        }
        PaidVsLostGrouping? grouping = null;
        var choices = allowed ?? Enum.GetValues<PaidVsLostGrouping>();
        if (!string.IsNullOrWhiteSpace(groupBy))
        {
            grouping = PaidVsLost.ParseGrouping(groupBy);
            if (grouping is null || !choices.Contains(grouping.Value))
                check.Add("groupBy", $"must be one of {string.Join(", ", choices.Select(PaidVsLost.GroupingName))}.");
        }
        else if (allowed is not null) check.Add("groupBy", $"is required: one of {string.Join(", ", choices.Select(PaidVsLost.GroupingName))}.");
        var instant = check.Instant("asOf", asOf);
        if (!check.IsValid) return (null, check.ToProblem());

        // A report without claims is stated in the fund currency configured for new claims.
        var fallbackCurrency = policy.FundCurrency;
        if (caseGuid is { } id)
        {
            var fraudCase = await session.LoadAsync<FraudCase>(id, ct);
            if (fraudCase is null) return (null, Problems.NotFound("Fraud case", id));
        }
        return (new Query(caseGuid, grouping, instant, fallbackCurrency), null);
    }

    public static async Task<(PaidVsLostReport? Report, ProblemDetails? Problem)> Build(IQuerySession session, Query query, CancellationToken ct)
    {
        // Summed by PostgreSQL over the projection's tables, now or as of the instant (the same figures as Build over a fold, tested).
        var report = await ClaimTotalsSql.ReportAsync(session, query.CaseId, query.GroupBy, query.FundCurrency, ct, query.AsOf);
        return report is null ? (null, MixedFundCurrencies()) : (report, null);
    }

    private static ProblemDetails MixedFundCurrencies() =>
        Problems.Conflict("mixed-fund-currencies", "These claims are owed in more than one fund currency; ask for one case at a time.");

    public static bool WantsCsv(HttpRequest request) =>
        request.GetTypedHeaders().Accept.Any(a => a.MediaType.Equals(PaidVsLost.CsvMediaType, StringComparison.OrdinalIgnoreCase));

    [WolverineGet("/api/reports/paid-vs-lost", Name = "PaidVsLostReport")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Reports")]
    [ProducesResponseType<PaidVsLostReport>(StatusCodes.Status200OK, "application/json", PaidVsLost.CsvMediaType)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [EndpointSummary("Paid versus lost per platform, supplier, buyer country or payment month (groupBy), for a case or all; asOf an instant; CSV with Accept: text/csv")]
    public static async Task<IResult> Get(IQuerySession session, ClaimPolicySettings policy, HttpRequest request, CancellationToken ct,
        string? caseId = null, string? groupBy = null, string? asOf = null)
    {
        var (query, invalid) = await Parse(session, policy, caseId, groupBy, asOf, ct);
        if (invalid is not null) return invalid.ToResult();
        var (report, refused) = await Build(session, query!, ct);
        if (refused is not null) return refused.ToResult();
        return ReportResults.JsonOrCsv(request, report!, PaidVsLost.ToCsv);
    }
}
