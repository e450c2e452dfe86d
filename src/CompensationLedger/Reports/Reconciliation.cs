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

/// <summary>A payout the ledger expects the bank to show (released, neither settled nor returned) that the statement does not.</summary>
public sealed record ExpectedPayout(string PayoutReference, Guid PayoutId, string ClaimReference, Money Amount, Instant IssuedAt);

/// <summary>
/// The ledger against one imported bank statement: lines matched to a payout or deposit by reference and
/// amount, lines matched by reference with another amount, lines the ledger cannot place, and payouts in
/// transit (as of the report's instant) that the statement does not show.
/// </summary>
public sealed record ReconciliationReport(
    string StatementId,
    Guid FundId,
    Instant ImportedAt,
    Instant AsOf,
    IReadOnlyList<MatchedStatementLine> Matched,
    IReadOnlyList<MatchedStatementLine> Mismatched,
    IReadOnlyList<MatchedStatementLine> UnmatchedOnStatement,
    IReadOnlyList<ExpectedPayout> UnmatchedInLedger);

public static class Reconciliation
{
    /// <summary>
    /// The statement as imported (its lines and what each matched), from the report tables; the first import when two
    /// funds imported the same statement. Null when no statement of that id was imported by <paramref name="asOf"/>.
    /// </summary>
    public static async Task<BankStatementImported?> StatementAsync(IQuerySession session, string statementId, Instant asOf, CancellationToken ct, Guid? fundId = null)
    {
        var table = $"{session.DocumentStore.Options.DatabaseSchemaName}.{FundReportProjection.StatementLinesTable}";
        // The fund's statement when a fund is given; else the first fund that imported it.
        var fund = fundId is null ? $"(select fund_id from {table} where statement_id = @statement order by imported_at_ns, fund_id limit 1)" : "@fund";
        var sql = $"""
                   select fund_id, imported_at_ns, line, date, reference, amount, currency, direction, match, payout_id, detail from {table}
                   where statement_id = @statement and fund_id = {fund}
                   order by line
                   """;
        var rows = await ReportSql.ReadAsync(session, sql, r => (FundId: r.GetGuid(0), ImportedAt: ReportTime.FromNs(r.GetInt64(1)), Line: new MatchedStatementLine(
                new StatementLine(r.GetInt32(2), r.GetFieldValue<LocalDate>(3), r.GetString(4), new Money(r.GetDecimal(5), r.GetString(6)), Enum.Parse<StatementDirection>(r.GetString(7))),
                Enum.Parse<StatementMatch>(r.GetString(8)), r.IsDBNull(9) ? null : r.GetGuid(9), r.GetString(10))),
            ct, fundId is { } id ? [("statement", statementId), ("fund", id)] : [("statement", statementId)]);
        if (rows.Count == 0 || rows[0].ImportedAt > asOf) return null;
        return new BankStatementImported(rows[0].FundId, statementId, [.. rows.Select(r => r.Line)], "", rows[0].ImportedAt);
    }

    /// <summary>
    /// The payouts of the statement's fund in transit as of the instant (issued by then, neither settled nor returned by then),
    /// issued on or before the statement's last day: read through the index on (fund, closed_at_ns), so only payouts still open
    /// at the instant are looked at, whatever the number of payouts settled long ago.
    /// </summary>
    public static async Task<IReadOnlyList<(Payout Payout, string ClaimReferences)>> InTransitAsync(IQuerySession session, BankStatementImported statement, Instant asOf, CancellationToken ct)
    {
        if (statement.Lines.Count == 0) return [];
        var lastDay = statement.Lines.Max(l => l.Line.Date);
        var sql = $"""
                   select payout_id, reference, round_id, claim_id, claim_reference, amount, currency, issued_at_ns
                   from {session.DocumentStore.Options.DatabaseSchemaName}.{FundReportProjection.PayoutsTable}
                   where fund_id = @fund and (closed_at_ns is null or closed_at_ns > @asOf) and issued_at_ns <= @asOf and issued_at_ns < @dayAfter
                   """;
        return await ReportSql.ReadAsync(session, sql, r => (new Payout(r.GetGuid(0), r.GetString(1), r.GetGuid(2), r.IsDBNull(3) ? null : r.GetGuid(3), r.GetString(4), [],
                new Money(r.GetDecimal(5), r.GetString(6)), PayoutStatus.InTransit, ReportTime.FromNs(r.GetInt64(7)), "", null, null, null, null, null, null), r.GetString(4)),
            ct, ("fund", statement.FundId), ("asOf", ReportTime.Ns(asOf)), ("dayAfter", ReportTime.Ns(lastDay.PlusDays(1).AtStartOfDayInZone(DateTimeZone.Utc).ToInstant())));
    }

    /// <summary>The reconciliation from the statement and the payouts of its fund (all of them, or only those in transit as of the instant).</summary>
    public static ReconciliationReport Build(BankStatementImported statement, IEnumerable<Payout> payouts, Instant asOf) =>
        Build(statement, payouts.Select(p => (p, FundReportProjection.Claims(p.PerClaim).ClaimReferences)), asOf);

    /// <summary>The same, with the claims each payout pays (references in ordinal order separated by a space).</summary>
    public static ReconciliationReport Build(BankStatementImported statement, IEnumerable<(Payout Payout, string ClaimReferences)> payouts, Instant asOf)
    {
        var seen = statement.Lines.Where(l => l.PayoutId is not null).Select(l => l.PayoutId!.Value).ToHashSet();
        var lastDate = statement.Lines.Count == 0 ? (LocalDate?)null : statement.Lines.Max(l => l.Line.Date);
        var expected = payouts
            .Where(x => x.Payout.IssuedAt <= asOf && lastDate is { } last && x.Payout.IssuedAt.InUtc().Date <= last)
            .Where(x => (x.Payout.SettledAt is null || x.Payout.SettledAt > asOf) && (x.Payout.ReturnedAt is null || x.Payout.ReturnedAt > asOf))
            .Where(x => !seen.Contains(x.Payout.Id))
            .OrderBy(x => x.Payout.Reference, StringComparer.Ordinal)
            .Select(x => new ExpectedPayout(x.Payout.Reference, x.Payout.Id, x.ClaimReferences, x.Payout.Amount, x.Payout.IssuedAt))
            .ToArray();
        return new ReconciliationReport(statement.StatementId, statement.FundId, statement.ImportedAt, asOf,
            [.. statement.Lines.Where(l => l.Match is StatementMatch.PayoutSettled or StatementMatch.PayoutReturned or StatementMatch.Deposit or StatementMatch.AlreadyRecorded)],
            [.. statement.Lines.Where(l => l.Match == StatementMatch.AmountMismatch)],
            [.. statement.Lines.Where(l => l.Match == StatementMatch.Unmatched)],
            expected);
    }

    public static string ToCsv(ReconciliationReport report)
    {
        var csv = new StringBuilder("section,line,date,reference,amount,currency,direction,match,payout_id,detail\r\n");
        void Lines(string section, IEnumerable<MatchedStatementLine> lines)
        {
            foreach (var l in lines)
                Row(section, l.Line.Line.ToString(System.Globalization.CultureInfo.InvariantCulture), LocalDatePattern.Iso.Format(l.Line.Date), l.Line.Reference,
                    PaidVsLost.Amount(l.Line.Amount), l.Line.Amount.Currency, l.Line.Direction.ToString().ToLowerInvariant(), l.Match.ToString(), l.PayoutId?.ToString() ?? "", l.Detail);
        }
        void Row(params string[] fields) => csv.Append(string.Join(',', fields.Select(PaidVsLost.Field))).Append("\r\n");

        Lines("matched", report.Matched);
        Lines("mismatched", report.Mismatched);
        Lines("unmatched-on-statement", report.UnmatchedOnStatement);
        foreach (var p in report.UnmatchedInLedger)
            Row("unmatched-in-ledger", "", LocalDatePattern.Iso.Format(p.IssuedAt.InUtc().Date), p.PayoutReference, PaidVsLost.Amount(p.Amount), p.Amount.Currency, "debit",
                "Expected", p.PayoutId.ToString(), $"Payout for {p.ClaimReference} is in transit but not on the statement.");
        return csv.ToString();
    }
}

public static class ReconciliationEndpoint
{
    [WolverineGet("/api/reports/reconciliation", Name = "ReconciliationReport")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Reports")]
    [ProducesResponseType<ReconciliationReport>(StatusCodes.Status200OK, "application/json", PaidVsLost.CsvMediaType)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [EndpointSummary("An imported bank statement against the ledger: matched, mismatched, unmatched on each side; asOf an instant; CSV with Accept: text/csv")]
    public static async Task<IResult> Get(IQuerySession session, HttpRequest request, IClock clock, CancellationToken ct, string? statementId = null, string? asOf = null)
    {
        var check = new Validation().Text("statementId", statementId, Validation.IdentifierLength);
        var cutoff = check.Instant("asOf", asOf) ?? clock.GetCurrentInstant();
        if (!check.IsValid) return check.ToProblem().ToResult();

        var statement = await Reconciliation.StatementAsync(session, statementId!.Trim(), cutoff, ct);
        if (statement is null)
            return Problems.Create(StatusCodes.Status404NotFound, "not-found", "Bank statement not found.",
                asOf is null ? $"No bank statement {statementId} was imported." : $"No bank statement {statementId} was imported by {asOf}.").ToResult();

        var report = Reconciliation.Build(statement, await Reconciliation.InTransitAsync(session, statement, cutoff, ct), cutoff);
        return ReportResults.JsonOrCsv(request, report, Reconciliation.ToCsv);
    }
}
