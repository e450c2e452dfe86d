using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using Marten;

namespace CompensationLedger.Reports;

/// <summary>
/// The paid-versus-lost figures "now", summed by PostgreSQL over the <see cref="ClaimTotalsLine"/> documents instead of
/// loading every line: one scan (of the case's rows by the <c>caseId</c> index, or of the table), grouped by the report's key
/// and by the currency of a loss not yet converted, so the answer is a few rows per group whatever the number of claims.
/// <see cref="PaidVsLost.Build"/> over the lines stays the report's definition; an integration test holds the two equal.
/// Amounts are summed as <c>numeric</c> (exact, and keeping the scale the documents carry, as <c>decimal</c> addition does);
/// the few rows are added up and turned into <see cref="ClaimTotals"/> here with the same rules as <see cref="ClaimTotals.Sum"/>.
/// </summary>
public static class ClaimTotalsSql
{
    /// <summary>One row of the query: the sums over the lines of one group (key) and one unconverted currency (null: known in the fund currency).</summary>
    private sealed record Part(
        string? Key,
        string? Unconverted,
        int Claims,
        decimal Claimed,
        decimal Verified,
        int VerifiedClaims,
        decimal AmountPaid,
        decimal VerifiedAmountPaid,
        decimal Entitled,
        decimal Paid,
        decimal Returned,
        int[] ByStatus,
        string FirstFundCurrency,
        string LastFundCurrency);

    /// <summary>The SQL expression of a group's key over the document (<c>d</c>), the same string <see cref="PaidVsLost.KeyOf"/> gives.</summary>
    private static string KeyExpression(PaidVsLostGrouping? grouping) => grouping switch
    {
        null => "null::text",
        PaidVsLostGrouping.Case => "d.data ->> 'caseId'",
        PaidVsLostGrouping.Platform => "d.data ->> 'platform'",
        PaidVsLostGrouping.Supplier => "concat(d.data ->> 'platform', '/', d.data ->> 'supplierAccount')",
        PaidVsLostGrouping.Country => "d.data ->> 'buyerCountry'",
        // paymentDate is stored as ISO yyyy-MM-dd: its first seven characters are PaymentMonth's yyyy-MM.
        PaidVsLostGrouping.Month => "left(d.data ->> 'paymentDate', 7)",
        _ => throw new ArgumentOutOfRangeException(nameof(grouping)),
    };

    /// <summary>The query: exposed for the measurements in TOTALS.md (EXPLAIN ANALYZE).</summary>
    public static string Sql(string schema, PaidVsLostGrouping? grouping, bool oneCase)
    {
        var statuses = Enum.GetValues<ClaimStatus>();
        var byStatus = string.Join(",\n       ", statuses.Select((_, i) => $"count(*) filter (where d.data ->> 'status' = @s{i})"));
        const string loss = "(d.data ->> 'lossInFundCurrency')::numeric";
        const string verified = "(d.data ->> 'verifiedEligible')::boolean";
        const string amountPaid = "(d.data -> 'amountPaid' ->> 'amount')::numeric";
        // The index on caseId is on this very expression (Marten's computed index), so a case reads only its rows.
        var where = oneCase ? "where CAST(d.data ->> 'caseId' as uuid) = @case" : "";
        return $"""
                select {KeyExpression(grouping)} as key,
                       case when d.data ->> 'lossInFundCurrency' is null then d.data -> 'amountPaid' ->> 'currency' end as unconverted,
                       count(*)::int,
                       coalesce(sum({loss}), 0),
                       coalesce(sum({loss}) filter (where {verified}), 0),
                       count(*) filter (where {verified})::int,
                       coalesce(sum({amountPaid}), 0),
                       coalesce(sum({amountPaid}) filter (where {verified}), 0),
                       coalesce(sum((d.data ->> 'entitled')::numeric), 0),
                       coalesce(sum((d.data ->> 'paid')::numeric), 0),
                       coalesce(sum((d.data ->> 'returned')::numeric), 0),
                       min(d.data ->> 'fundCurrency'),
                       max(d.data ->> 'fundCurrency'),
                       {byStatus}
                from {schema}.mt_doc_claimtotalsline d
                {where}
                group by 1, 2
                """;
    }

    /// <summary>
    /// The report now (from the projection), or null when its claims are owed in more than one fund currency.
    /// <paramref name="fallbackCurrency"/> states a report without claims, as <see cref="ClaimTotals.FundCurrencyOf"/>.
    /// </summary>
    public static async Task<PaidVsLostReport?> ReportAsync(IQuerySession session, Guid? caseId, PaidVsLostGrouping? grouping, string fallbackCurrency,
        CancellationToken ct)
    {
        var statuses = Enum.GetValues<ClaimStatus>();
        var parameters = statuses.Select((s, i) => ($"s{i}", (object)StoredName(session, s))).ToList();
        if (caseId is { } id) parameters.Add(("case", id));
        var sql = Sql(session.DocumentStore.Options.DatabaseSchemaName, grouping, caseId is not null);
        var parts = await ReportSql.ReadAsync(session, sql, r => new Part(
            r.IsDBNull(0) ? null : r.GetString(0),
            r.IsDBNull(1) ? null : r.GetString(1),
            r.GetInt32(2), r.GetDecimal(3), r.GetDecimal(4), r.GetInt32(5), r.GetDecimal(6), r.GetDecimal(7),
            r.GetDecimal(8), r.GetDecimal(9), r.GetDecimal(10),
            [.. statuses.Select((_, i) => (int)r.GetInt64(13 + i))],
            r.GetString(11), r.GetString(12)), ct, [.. parameters]);

        var fundCurrencies = parts.SelectMany(p => new[] { p.FirstFundCurrency, p.LastFundCurrency }).Distinct(StringComparer.Ordinal).ToList();
        string fundCurrency;
        if (fundCurrencies.Count == 0) fundCurrency = fallbackCurrency;
        else if (fundCurrencies.Count == 1) fundCurrency = fundCurrencies[0];
        else return null;

        IReadOnlyList<PaidVsLostGroup> groups = grouping is { } by
            ? [.. parts.GroupBy(p => Key(p.Key, by)).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => new PaidVsLostGroup(g.Key, Totals(g.ToList(), fundCurrency)))]
            : [];
        return new PaidVsLostReport(caseId, grouping, null, fundCurrency, groups, Totals(parts, fundCurrency));
    }

    /// <summary>A case's totals now, or null when its claims are owed in more than one fund currency (the case detail's <c>totals</c>).</summary>
    public static async Task<ClaimTotals?> TotalAsync(IQuerySession session, Guid caseId, string fallbackCurrency, CancellationToken ct) =>
        (await ReportAsync(session, caseId, null, fallbackCurrency, ct))?.Total;

    // Keys as PaidVsLost.KeyOf writes them: a case id in Guid's own format (the document's text is the same, this makes sure).
    private static string Key(string? key, PaidVsLostGrouping grouping) =>
        grouping == PaidVsLostGrouping.Case && Guid.TryParse(key, out var id) ? id.ToString() : key!;

    private static string StoredName(IQuerySession session, ClaimStatus status) =>
        session.DocumentStore.Options.Serializer().ToJson(status).Trim('"');

    /// <summary>The same figures <see cref="ClaimTotals.Sum"/> gives for the lines these parts sum.</summary>
    private static ClaimTotals Totals(IReadOnlyList<Part> parts, string fundCurrency)
    {
        Money Total(Func<Part, decimal> amount) => ClaimTotals.Stated(parts.Sum(amount), fundCurrency);
        static IReadOnlyList<Money> PerCurrency(IEnumerable<(string Currency, decimal Amount)> unconverted) =>
            [.. unconverted.GroupBy(u => u.Currency).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => ClaimTotals.Stated(g.Sum(u => u.Amount), g.Key))];

        var unconverted = parts.Where(p => p.Unconverted is not null).ToList();
        var claimed = Total(p => p.Claimed);
        var paid = Total(p => p.Paid);
        var entitled = Total(p => p.Entitled);
        var statuses = Enum.GetValues<ClaimStatus>();
        return new ClaimTotals(
            parts.Sum(p => p.Claims),
            claimed,
            PerCurrency(unconverted.Select(p => (p.Unconverted!, p.AmountPaid))),
            Total(p => p.Verified),
            PerCurrency(unconverted.Where(p => p.VerifiedClaims > 0).Select(p => (p.Unconverted!, p.VerifiedAmountPaid))),
            entitled,
            paid,
            Total(p => p.Returned),
            entitled - paid,
            ClaimTotals.Ratio(paid.Amount, claimed.Amount),
            statuses.Select((s, i) => (s, i)).ToDictionary(x => ListClaimsEndpoint.StatusName(x.s), x => parts.Sum(p => p.ByStatus[x.i])));
    }
}
