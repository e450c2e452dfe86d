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
    public static ReconciliationReport Build(BankStatementImported statement, Fund fund, Instant asOf)
    {
        var seen = statement.Lines.Where(l => l.PayoutId is not null).Select(l => l.PayoutId!.Value).ToHashSet();
        var lastDate = statement.Lines.Count == 0 ? (LocalDate?)null : statement.Lines.Max(l => l.Line.Date);
        var expected = fund.Payouts.Values
            .Where(p => p.IssuedAt <= asOf && lastDate is { } last && p.IssuedAt.InUtc().Date <= last)
            .Where(p => (p.SettledAt is null || p.SettledAt > asOf) && (p.ReturnedAt is null || p.ReturnedAt > asOf))
            .Where(p => !seen.Contains(p.Id))
            .OrderBy(p => p.Reference, StringComparer.Ordinal)
            .Select(p => new ExpectedPayout(p.Reference, p.Id, string.Join(' ', p.ClaimReferences), p.Amount, p.IssuedAt))
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

        var statement = await session.Events.QueryRawEventDataOnly<BankStatementImported>()
            .Where(s => s.StatementId == statementId!.Trim()).FirstOrDefaultAsync(ct);
        if (statement is null || statement.ImportedAt > cutoff)
            return Problems.Create(StatusCodes.Status404NotFound, "not-found", "Bank statement not found.",
                asOf is null ? $"No bank statement {statementId} was imported." : $"No bank statement {statementId} was imported by {asOf}.").ToResult();
        var fund = await session.LoadAsync<Fund>(statement.FundId, ct);
        if (fund is null) return Problems.NotFound("Fund", statement.FundId).ToResult();

        var report = Reconciliation.Build(statement, fund, cutoff);
        return ReportResults.JsonOrCsv(request, report, Reconciliation.ToCsv);
    }
}
