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

/// <summary>The payouts issued in a period (by issue date, UTC, both ends included), with totals per currency.</summary>
public sealed record PayoutRegisterReport(
    LocalDate? From,
    LocalDate? To,
    Instant? AsOf,
    IReadOnlyList<PayoutRegisterLine> Payouts,
    IReadOnlyList<Money> Issued,
    IReadOnlyList<Money> Settled,
    IReadOnlyList<Money> Returned,
    IReadOnlyList<Money> InTransit);

public static class PayoutRegister
{
    /// <summary>
    /// The register from the funds' payouts. As of an instant, a payout issued later is left out and one
    /// settled or returned later is still in transit: the payout's own business times say what was known then.
    /// </summary>
    public static PayoutRegisterReport Build(IEnumerable<Fund> funds, LocalDate? from, LocalDate? to, Instant? asOf)
    {
        var lines = funds
            .SelectMany(f => f.Payouts.Values.Select(p => (Fund: f, Payout: p)))
            .Where(x => asOf is null || x.Payout.IssuedAt <= asOf)
            .Where(x => from is null || x.Payout.IssuedAt.InUtc().Date >= from)
            .Where(x => to is null || x.Payout.IssuedAt.InUtc().Date <= to)
            .Select(x => Line(x.Fund, x.Payout, asOf))
            .OrderBy(l => l.IssuedAt).ThenBy(l => l.PayoutReference, StringComparer.Ordinal)
            .ToList();

        static IReadOnlyList<Money> Totals(IEnumerable<PayoutRegisterLine> selected) =>
            [.. selected.GroupBy(l => l.Amount.Currency).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => g.Select(l => l.Amount).Aggregate((a, b) => a + b))];

        return new PayoutRegisterReport(from, to, asOf, lines,
            Totals(lines),
            Totals(lines.Where(l => l.Status == PayoutStatus.Settled)),
            Totals(lines.Where(l => l.Status == PayoutStatus.Returned)),
            Totals(lines.Where(l => l.Status == PayoutStatus.InTransit)));
    }

    private static PayoutRegisterLine Line(Fund fund, Payout p, Instant? asOf)
    {
        var settled = p.SettledAt is { } s && (asOf is null || s <= asOf) ? p.SettledAt : null;
        var returned = p.ReturnedAt is { } r && (asOf is null || r <= asOf) ? p.ReturnedAt : null;
        var status = returned is not null ? PayoutStatus.Returned : settled is not null ? PayoutStatus.Settled : PayoutStatus.InTransit;
        var claims = p.PerClaim.Select(l => l.ClaimId).Distinct().ToList();
        return new PayoutRegisterLine(p.Reference, p.Id, fund.Id, fund.Name, p.RoundId, string.Join(' ', p.ClaimReferences), claims.Count == 1 ? claims[0] : null, p.Amount, status,
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
    [EndpointSummary("Payouts issued from..to (ISO dates, by issue date), of one fund or all, with status as of asOf; CSV with Accept: text/csv")]
    public static async Task<IResult> Get(IQuerySession session, HttpRequest request, CancellationToken ct,
        string? from = null, string? to = null, string? fundId = null, string? asOf = null)
    {
        var check = new Validation();
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

        IReadOnlyList<Fund> funds;
        if (fund is { } oneFund)
        {
            var found = await session.LoadAsync<Fund>(oneFund, ct);
            if (found is null) return Problems.NotFound("Fund", oneFund).ToResult();
            funds = [found];
        }
        else funds = await session.Query<Fund>().ToListAsync(ct);

        var report = PayoutRegister.Build(funds, fromDate, toDate, cutoff);
        return ReportResults.JsonOrCsv(request, report, PayoutRegister.ToCsv);
    }

}
