using CompensationLedger.Claims;
using JasperFx.Events;
using Marten.Events;
using Marten;
using NodaTime;

namespace CompensationLedger.Reports;

/// <summary>
/// The paid-versus-lost figures from <see cref="ClaimTotalsProjection"/>'s tables, summed by PostgreSQL: "now" over the claims'
/// rows (a case's by its index), "as of t" over the change rows up to t, grouped by the report's key, the fund currency and the
/// currency paid, so the answer is a few rows per group whatever the number of claims or events. <see cref="PaidVsLost.Build"/>
/// over <see cref="ClaimTotalsLine.Fold"/> stays the report's definition; integration tests hold the two equal, to the JSON
/// text and the CSV byte. Amounts are summed as <c>numeric</c> (exact, and keeping the scale, as <c>decimal</c> addition does);
/// the few rows are added up and turned into <see cref="ClaimTotals"/> here with the same rules as <see cref="ClaimTotals.Sum"/>.
/// </summary>
public static class ClaimTotalsSql
{
    /// <summary>Sums over the claims of one group (key), one fund currency and one currency paid; the figures of <see cref="ClaimTotalsProjection.Figures"/>.</summary>
    private sealed record Part(
        string? Key,
        string FundCurrency,
        string PaidCurrency,
        long Claims,
        decimal Claimed,
        decimal Verified,
        long UnconvertedClaims,
        decimal Unconverted,
        long VerifiedUnconvertedClaims,
        decimal VerifiedUnconverted,
        decimal Entitled,
        decimal Paid,
        decimal Returned,
        long[] ByStatus)
    {
        /// <summary>
        /// Nothing in it: the sums of a group whose rows cancel out, as when the change rows of a claim left out as of an instant (one
        /// whose business time went backwards, folded from its events instead) are subtracted from the monthly and daily sums. No claim
        /// line is empty (each counts one claim), so such a part is no group of the report.
        /// </summary>
        public bool IsEmpty => Claims == 0 && Claimed == 0 && Verified == 0 && UnconvertedClaims == 0 && Unconverted == 0 && VerifiedUnconvertedClaims == 0
            && VerifiedUnconverted == 0 && Entitled == 0 && Paid == 0 && Returned == 0 && ByStatus.All(n => n == 0);
    }

    private const int StatusFigures = 10; // the figures before the status counts in ClaimTotalsProjection.Figures

    /// <summary>The SQL expression of a group's key over a row (<c>r</c>), the same string <see cref="PaidVsLost.KeyOf"/> gives.</summary>
    private static string KeyExpression(PaidVsLostGrouping? grouping) => grouping switch
    {
        null => "null::text",
        PaidVsLostGrouping.Case => "r.case_id::text",
        PaidVsLostGrouping.Platform => "r.platform",
        PaidVsLostGrouping.Supplier => "r.platform || '/' || r.supplier_account",
        PaidVsLostGrouping.Country => "r.buyer_country",
        PaidVsLostGrouping.Month => "r.payment_month",
        _ => throw new ArgumentOutOfRangeException(nameof(grouping)),
    };

    /// <summary>
    /// The query: now (<paramref name="asOf"/> false) sums each claim's figures over its row; as of an instant sums the change rows
    /// before <c>@upTo</c> (exclusive, ns), leaving out the claims in <c>@disordered</c>. Exposed for the measurements in TOTALS.md.
    /// </summary>
    public static string Sql(string schema, PaidVsLostGrouping? grouping, bool oneCase, bool asOf)
    {
        var figures = ClaimTotalsProjection.Figures;
        var sums = asOf
            ? figures.Select(f => $"sum(r.{f.Column})")
            : figures.Select((_, i) => $"sum({ClaimTotalsProjection.Figure(i, "r")})");
        var table = asOf ? ClaimTotalsProjection.ChangesTable : ClaimTotalsProjection.ClaimsTable;
        var where = new List<string>();
        if (oneCase) where.Add("r.case_id = @case");
        if (asOf) where.AddRange(["r.at_ns < @upTo", "r.claim_id <> all(@disordered)"]);
        return $"""
                select {KeyExpression(grouping)} as key, r.fund_currency, r.paid_currency,
                       {string.Join(",\n       ", sums)}
                from {schema}.{table} r
                {(where.Count == 0 ? "" : "where " + string.Join(" and ", where))}
                group by 1, 2, 3
                """;
    }

    /// <summary>
    /// "Now" from <see cref="ClaimTotalsRollup"/>: its rows of the grouping the report needs, plus the change rows it has not absorbed
    /// yet (at or above the checkpoint's horizon), in one statement so in one snapshot (each change row counted once: see there).
    /// The same rows and sums as <see cref="Sql"/> over the claims' rows gives. Exposed for the measurements in TOTALS.md.
    /// The tail is bounded above by the snapshot's xmax for the planner's sake, as in <see cref="AsOfSql"/> (which says why no row is lost).
    /// </summary>
    public static string NowSql(string schema, PaidVsLostGrouping? grouping, bool oneCase)
    {
        var figures = ClaimTotalsProjection.Figures;
        var columns = string.Join(", ", figures.Select(f => "r." + f.Column));
        var rollupKey = grouping switch
        {
            null => "null::text",
            PaidVsLostGrouping.Case => "r.case_id::text",
            _ => "r.key",
        };
        var ofCase = oneCase ? " and r.case_id = @case" : "";
        return $"""
                select r.key, r.fund_currency, r.paid_currency,
                       {string.Join(",\n       ", figures.Select(f => f.IsCount ? $"sum(r.{f.Column})::bigint" : $"sum(r.{f.Column})"))}
                from (
                    select {rollupKey} as key, r.fund_currency, r.paid_currency, {columns}
                    from {schema}.{ClaimTotalsRollup.RollupTable} r
                    where r.grouping = '{ClaimTotalsRollup.GroupingFor(grouping)}'{ofCase}
                    union all
                    select {KeyExpression(grouping)}, r.fund_currency, r.paid_currency, {columns}
                    from {schema}.{ClaimTotalsProjection.ChangesTable} r
                    where r.{ClaimTotalsRollup.XidColumn} >= {ClaimTotalsRollup.Horizon(schema)} and r.{ClaimTotalsRollup.XidColumn} < {ClaimTotalsRollup.SnapshotXmax}{ofCase}) r
                group by 1, 2, 3
                """;
    }

    /// <summary>
    /// As of an instant from <see cref="ClaimTotalsRollup"/>'s monthly and daily sums: the change rows with business time before
    /// <c>@upTo</c> (exclusive, ns) are, in one snapshot, exactly (1) the absorbed ones of the months before <c>@month</c> (the first
    /// nanosecond of the month of the last one counted), summed in the monthly rows, (2) the absorbed ones of the days from <c>@month</c>
    /// to <c>@day</c> (the first nanosecond of that one's day), summed in the daily rows, (3) the absorbed ones from <c>@day</c> up to t,
    /// and (4) the tail's up to t. The claims in <c>@disordered</c> are left out as in <see cref="Sql"/>: their absorbed rows before the
    /// day are subtracted from the sums (a few rows), the others not read. The same rows as <see cref="Sql"/> sums, so the same answer.
    /// <para>
    /// The tail (4) is bounded above by the statement's snapshot's xmax (<see cref="ClaimTotalsRollup.SnapshotXmax"/>), which leaves
    /// out no row it can see: it is read on a connection of its own (<see cref="ReportSql.ReadAsync"/>) that wrote nothing, so every
    /// row visible to it was written by a transaction committed before the snapshot, whose id is below xmax. The bound is for the
    /// planner: the horizon is known only when the statement runs, so <c>xid &gt;= horizon</c> alone is estimated at a third of the
    /// table (277,000 of 832,000 change rows at a million events, while the tail is a few seconds of writes), and that estimate made
    /// PostgreSQL plan a parallel scan for one case (two workers started on every request: tens of ms on a report of 10 once the
    /// table is vacuumed) and a sort spilling to disk for all claims. With both bounds unknown it takes the range at 0.5 %
    /// (PROFILING.md, 2026-12-04).
    /// </para>
    /// </summary>
    public static string AsOfSql(string schema, PaidVsLostGrouping? grouping, bool oneCase)
    {
        var figures = ClaimTotalsProjection.Figures;
        string Columns(string sign) => string.Join(", ", figures.Select(f => sign + "r." + f.Column));
        var rollupKey = grouping switch
        {
            null => "null::text",
            PaidVsLostGrouping.Case => "r.case_id::text",
            _ => "r.key",
        };
        var ofCase = oneCase ? " and r.case_id = @case" : "";
        var changes = $"{schema}.{ClaimTotalsProjection.ChangesTable}";
        var xid = "r." + ClaimTotalsRollup.XidColumn;
        return $"""
                with h as materialized (select {ClaimTotalsRollup.Horizon(schema)} as horizon)
                select r.key, r.fund_currency, r.paid_currency,
                       {string.Join(",\n       ", figures.Select(f => f.IsCount ? $"sum(r.{f.Column})::bigint" : $"sum(r.{f.Column})"))}
                from (
                    select {rollupKey} as key, r.fund_currency, r.paid_currency, {Columns("")}
                    from {schema}.{ClaimTotalsRollup.MonthlyTable} r
                    where r.grouping = '{ClaimTotalsRollup.GroupingFor(grouping)}' and r.month_ns < @month{ofCase}
                    union all
                    select {rollupKey} as key, r.fund_currency, r.paid_currency, {Columns("")}
                    from {schema}.{ClaimTotalsRollup.DailyTable} r
                    where r.grouping = '{ClaimTotalsRollup.GroupingFor(grouping)}' and r.day_ns >= @month and r.day_ns < @day{ofCase}
                    union all
                    select {KeyExpression(grouping)}, r.fund_currency, r.paid_currency, {Columns("-")}
                    from {changes} r
                    where r.claim_id = any(@disordered) and r.at_ns < @day and {xid} < (select horizon from h){ofCase}
                    union all
                    select {KeyExpression(grouping)}, r.fund_currency, r.paid_currency, {Columns("")}
                    from {changes} r
                    where r.at_ns >= @day and r.at_ns < @upTo and {xid} < (select horizon from h) and r.claim_id <> all(@disordered){ofCase}
                    union all
                    select {KeyExpression(grouping)}, r.fund_currency, r.paid_currency, {Columns("")}
                    from {changes} r
                    where {xid} >= (select horizon from h) and {xid} < {ClaimTotalsRollup.SnapshotXmax} and r.at_ns < @upTo and r.claim_id <> all(@disordered){ofCase}) r
                group by 1, 2, 3
                """;
    }

    /// <summary>
    /// The report now (<paramref name="asOf"/> null) or as of an instant, or null when its claims are owed in more than one fund
    /// currency. <paramref name="fallbackCurrency"/> states a report without claims, as <see cref="ClaimTotals.FundCurrencyOf"/>.
    /// "Now" is read from the rollup and its tail, "as of" from its monthly and daily sums, the day's change rows and the tail;
    /// <paramref name="claimRows"/> reads them as before the rollup instead (now: the claims' rows; as of: every change row up to t),
    /// which tests hold them equal to.
    /// </summary>
    public static async Task<PaidVsLostReport?> ReportAsync(IQuerySession session, Guid? caseId, PaidVsLostGrouping? grouping, string fallbackCurrency,
        CancellationToken ct, Instant? asOf = null, bool claimRows = false)
    {
        var schema = session.DocumentStore.Options.DatabaseSchemaName;
        var parameters = new List<(string, object)>();
        if (caseId is { } id) parameters.Add(("case", id));
        var parts = new List<Part>();
        if (asOf is { } at)
        {
            // Claims whose events were applied with business time going backwards: their change rows do not add up to the fold
            // (see ClaimTotalsProjection), so they are folded from their events instead. None in normal operation.
            var disordered = await ReportSql.ReadAsync(session,
                $"select claim_id from {schema}.{ClaimTotalsProjection.ClaimsTable} where not ordered{(caseId is null ? "" : " and case_id = @case")}",
                r => r.GetGuid(0), ct, [.. parameters]);
            parameters.Add(("upTo", ReportTime.UpTo(at)));
            parameters.Add(("month", ClaimTotalsRollup.MonthStart(ReportTime.UpTo(at) - 1)));
            parameters.Add(("day", ClaimTotalsRollup.DayStart(ReportTime.UpTo(at) - 1)));
            parameters.Add(("disordered", disordered.ToArray()));
            if (disordered.Count > 0) parts.AddRange((await Folded(session, disordered, at, ct)).Select(l => PartOf(l, grouping)));
        }
        var sql = claimRows ? Sql(schema, grouping, caseId is not null, asOf is not null)
            : asOf is null ? NowSql(schema, grouping, caseId is not null) : AsOfSql(schema, grouping, caseId is not null);
        parts.AddRange(await ReportSql.ReadAsync(session, sql, r => new Part(
            r.IsDBNull(0) ? null : r.GetString(0), r.GetString(1), r.GetString(2),
            r.GetInt64(3), r.GetDecimal(4), r.GetDecimal(5), r.GetInt64(6), r.GetDecimal(7), r.GetInt64(8), r.GetDecimal(9),
            r.GetDecimal(10), r.GetDecimal(11), r.GetDecimal(12),
            [.. Enum.GetValues<ClaimStatus>().Select((_, i) => r.GetInt64(3 + StatusFigures + i))]), ct, [.. parameters]));
        parts.RemoveAll(p => p.IsEmpty);

        var fundCurrencies = parts.Where(p => p.Claims != 0).Select(p => p.FundCurrency).Distinct(StringComparer.Ordinal).ToList();
        string fundCurrency;
        if (fundCurrencies.Count == 0) fundCurrency = fallbackCurrency;
        else if (fundCurrencies.Count == 1) fundCurrency = fundCurrencies[0];
        else return null;

        IReadOnlyList<PaidVsLostGroup> groups = grouping is { } by
            ? [.. parts.GroupBy(p => Key(p.Key, by)).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => new PaidVsLostGroup(g.Key, Totals(g.ToList(), fundCurrency)))]
            : [];
        return new PaidVsLostReport(caseId, grouping, asOf, fundCurrency, groups, Totals(parts, fundCurrency));
    }

    /// <summary>A case's totals now, or null when its claims are owed in more than one fund currency (the case detail's <c>totals</c>).</summary>
    public static async Task<ClaimTotals?> TotalAsync(IQuerySession session, Guid caseId, string fallbackCurrency, CancellationToken ct) =>
        (await ReportAsync(session, caseId, null, fallbackCurrency, ct))?.Total;

    /// <summary>The lines of these claims as of <paramref name="asOf"/>, folded from their streams and the payout events.</summary>
    private static async Task<IReadOnlyList<ClaimTotalsLine>> Folded(IQuerySession session, IReadOnlyList<Guid> claimIds, Instant asOf, CancellationToken ct)
    {
        var streams = claimIds.ToArray();
        var events = await session.Events.QueryAllRawEvents()
            .Where(e => e.StreamId.IsOneOf(streams) || e.EventTypesAre(typeof(Funds.PayoutSettled), typeof(Funds.PayoutReturned)))
            .OrderBy(e => e.Sequence).ToListAsync(ct);
        var wanted = claimIds.ToHashSet();
        return [.. ClaimTotalsLine.Fold(events.Select(e => e.Data), asOf).Where(l => wanted.Contains(l.Id))];
    }

    /// <summary>One line's figures as a part: the same figures the SQL sums over a claim's row.</summary>
    private static Part PartOf(ClaimTotalsLine line, PaidVsLostGrouping? grouping)
    {
        var unconverted = line.LossInFundCurrency is null;
        var verifiedUnconverted = line.VerifiedEligible && unconverted;
        return new Part(grouping is { } by ? PaidVsLost.KeyOf(line, by) : null, line.FundCurrency, line.AmountPaid.Currency,
            1, line.LossInFundCurrency ?? 0m, line.VerifiedEligible ? line.LossInFundCurrency ?? 0m : 0m,
            unconverted ? 1 : 0, unconverted ? line.AmountPaid.Amount : 0m,
            verifiedUnconverted ? 1 : 0, verifiedUnconverted ? line.AmountPaid.Amount : 0m,
            line.Entitled, line.Paid, line.Returned,
            [.. Enum.GetValues<ClaimStatus>().Select(s => line.Status == s ? 1L : 0L)]);
    }

    // Keys as PaidVsLost.KeyOf writes them: a case id in Guid's own format (PostgreSQL's uuid text is the same, this makes sure).
    private static string Key(string? key, PaidVsLostGrouping grouping) =>
        grouping == PaidVsLostGrouping.Case && Guid.TryParse(key, out var id) ? id.ToString() : key!;

    /// <summary>The same figures <see cref="ClaimTotals.Sum"/> gives for the lines these parts sum.</summary>
    private static ClaimTotals Totals(IReadOnlyList<Part> parts, string fundCurrency)
    {
        Money Total(Func<Part, decimal> amount) => ClaimTotals.Stated(parts.Sum(amount), fundCurrency);
        // A currency is listed when a claim is in it (even for an amount of zero), as ClaimTotals.Sum groups the lines themselves.
        IReadOnlyList<Money> PerCurrency(Func<Part, long> claims, Func<Part, decimal> amount) =>
            [.. parts.GroupBy(p => p.PaidCurrency).Where(g => g.Sum(claims) > 0).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => ClaimTotals.Stated(g.Sum(amount), g.Key))];

        var claimed = Total(p => p.Claimed);
        var paid = Total(p => p.Paid);
        var entitled = Total(p => p.Entitled);
        var statuses = Enum.GetValues<ClaimStatus>();
        return new ClaimTotals(
            (int)parts.Sum(p => p.Claims),
            claimed,
            PerCurrency(p => p.UnconvertedClaims, p => p.Unconverted),
            Total(p => p.Verified),
            PerCurrency(p => p.VerifiedUnconvertedClaims, p => p.VerifiedUnconverted),
            entitled,
            paid,
            Total(p => p.Returned),
            entitled - paid,
            ClaimTotals.Ratio(paid.Amount, claimed.Amount),
            statuses.Select((s, i) => (s, i)).ToDictionary(x => ListClaimsEndpoint.StatusName(x.s), x => (int)parts.Sum(p => p.ByStatus[x.i])));
    }
}
