using System.Globalization;
using CompensationLedger.Claims;
using NodaTime;

namespace CompensationLedger.Reports;

/// <summary>
/// One claim's contribution to every total (DOMAIN.md, Totals): the dimensions it is counted under and its figures.
/// <see cref="Fold"/> over the events and <see cref="ClaimTotals.Sum"/> over the lines are the definition of every total per case,
/// platform, supplier, country or month. <see cref="ClaimTotalsProjection"/> keeps the same lines in typed table rows (one per
/// claim, so appends to different claims never contend on a shared row), and each event's change to them for as-of reports.
/// </summary>
/// <param name="LossInFundCurrency">
/// The loss in <paramref name="FundCurrency"/> when known: the amount paid itself when paid in the fund currency, otherwise
/// the approval's conversion at finance's recorded rate (rounded half away from zero to the fund currency's minor unit).
/// Null until then: the loss then counts in its own currency (<see cref="ClaimTotals.ClaimedUnconverted"/>).
/// </param>
/// <param name="ResumeStatus">The status an answered information request returns the claim to.</param>
/// <param name="Paid">Settled payouts in the fund currency (fed by payout events; zero until they exist).</param>
/// <param name="Returned">Payouts the bank returned, in the fund currency (fed by payout events; zero until they exist).</param>
public sealed record ClaimTotalsLine(
    Guid Id,
    Guid CaseId,
    string Platform,
    string SupplierAccount,
    string BuyerCountry,
    LocalDate PaymentDate,
    string FundCurrency,
    Money AmountPaid,
    decimal? LossInFundCurrency,
    ClaimStatus Status,
    ClaimStatus? ResumeStatus,
    bool VerifiedEligible,
    decimal Entitled,
    decimal Paid,
    decimal Returned,
    Instant LastEventAt)
{
    /// <summary>The month a loss counts in: the month of the payment date (when the buyer lost the money), as <c>yyyy-MM</c>.</summary>
    public string PaymentMonth => PaymentDate.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    public static ClaimTotalsLine Start(ClaimFiled e) =>
        new(e.ClaimId, e.CaseId, e.Platform, e.SupplierAccount, e.BuyerCountry, e.PaymentDate, e.Policy.FundCurrency, e.AmountPaid,
            e.AmountPaid.Currency == e.Policy.FundCurrency ? e.AmountPaid.Amount : null,
            ClaimStatus.Filed, null, false, 0m, 0m, 0m, e.FiledAt);

    public ClaimTotalsLine Apply(ClaimVerified e) => this with
    {
        Status = e.Result switch
        {
            VerificationResult.VerifiedEligible => ClaimStatus.VerifiedEligible,
            VerificationResult.VerifiedIneligible => ClaimStatus.VerifiedIneligible,
            _ => ClaimStatus.NeedsReview,
        },
        VerifiedEligible = e.Result == VerificationResult.VerifiedEligible,
        LastEventAt = e.VerifiedAt,
    };

    public ClaimTotalsLine Apply(ClaimInformationRequested e) =>
        this with { Status = ClaimStatus.AwaitingInformation, ResumeStatus = Status, LastEventAt = e.RequestedAt };

    public ClaimTotalsLine Apply(ClaimInformationProvided e) =>
        this with { Status = ResumeStatus ?? ClaimStatus.Filed, ResumeStatus = null, LastEventAt = e.ProvidedAt };

    public ClaimTotalsLine Apply(ClaimLapsed e) => this with { Status = ClaimStatus.Lapsed, ResumeStatus = null, LastEventAt = e.LapsedAt };

    public ClaimTotalsLine Apply(ClaimApproved e) => Entitle(e.Computation, e.ApprovedAt);

    public ClaimTotalsLine Apply(ClaimRejected e) => this with { Status = ClaimStatus.Rejected, LastEventAt = e.RejectedAt };

    public ClaimTotalsLine Apply(ClaimAppealed e) => this with { Status = ClaimStatus.UnderAppeal, LastEventAt = e.AppealedAt };

    public ClaimTotalsLine Apply(ClaimAppealGranted e) => Entitle(e.Computation, e.DecidedAt);

    public ClaimTotalsLine Apply(ClaimAppealDismissed e) => this with { Status = ClaimStatus.Rejected, LastEventAt = e.DecidedAt };

    public ClaimTotalsLine Apply(ClaimWithdrawn e) => this with { Status = ClaimStatus.Withdrawn, ResumeStatus = null, LastEventAt = e.WithdrawnAt };

    /// <summary>
    /// Payouts plug in here: a settled payout adds to <see cref="Paid"/>, a returned one to <see cref="Returned"/>
    /// (see src/CompensationLedger/Reports/TOTALS.md for the events' contract). The amount must be in the claim's fund currency.
    /// </summary>
    public ClaimTotalsLine Settle(Money amount, Instant at) => this with { Paid = Paid + InFundCurrency(amount), LastEventAt = at };

    public ClaimTotalsLine Return(Money amount, Instant at) => this with { Returned = Returned + InFundCurrency(amount), LastEventAt = at };

    private decimal InFundCurrency(Money amount) =>
        amount.Currency == FundCurrency
            ? amount.Amount
            : throw new InvalidOperationException($"Claim {Id} is paid in {FundCurrency}, not {amount.Currency}.");

    private ClaimTotalsLine Entitle(EntitlementComputation computation, Instant at) => this with
    {
        Status = ClaimStatus.Approved,
        Entitled = computation.Entitlement.Amount,
        LossInFundCurrency = LossOf(computation),
        LastEventAt = at,
    };

    /// <summary>The loss in the fund currency an approval fixes: the loss itself, or its conversion at the recorded rate rounded half away from zero.</summary>
    public static decimal LossOf(EntitlementComputation computation) =>
        computation.Rate is null
            ? computation.Loss.Amount
            : Money.RoundedHalfAwayFromZero(computation.LossInFundCurrency, computation.Entitlement.Currency).Amount;

    /// <summary>The business time of an event the totals count, or null for events they ignore.</summary>
    public static Instant? BusinessTime(object e) => e switch
    {
        IClaimEvent claimEvent => claimEvent.At,
        Funds.PayoutSettled settled => settled.SettledAt,
        Funds.PayoutReturned returned => returned.ReturnedAt,
        _ => null,
    };

    /// <summary>Folds one event into its claim's line; events that do not change totals leave it as it is.</summary>
    public static ClaimTotalsLine? Applying(ClaimTotalsLine? line, object e) => (line, e) switch
    {
        (null, ClaimFiled filed) => Start(filed),
        (null, _) => null,
        (_, ClaimVerified x) => line.Apply(x),
        (_, ClaimInformationRequested x) => line.Apply(x),
        (_, ClaimInformationProvided x) => line.Apply(x),
        (_, ClaimLapsed x) => line.Apply(x),
        (_, ClaimApproved x) => line.Apply(x),
        (_, ClaimRejected x) => line.Apply(x),
        (_, ClaimAppealed x) => line.Apply(x),
        (_, ClaimAppealGranted x) => line.Apply(x),
        (_, ClaimAppealDismissed x) => line.Apply(x),
        (_, ClaimWithdrawn x) => line.Apply(x),
        (_, Funds.PayoutSettled x) => line.Settle(AmountFor(line.Id, Funds.PayoutLines.Of(x)), x.SettledAt),
        (_, Funds.PayoutReturned x) => line.Return(AmountFor(line.Id, Funds.PayoutLines.Of(x)), x.ReturnedAt),
        _ => line,
    };

    /// <summary>
    /// The lines as of <paramref name="asOf"/>, folded from raw events in log order: only events whose business time
    /// (<c>FiledAt</c>, <c>ApprovedAt</c>...) is at or before it count. Business time, not Marten's timestamp: the
    /// decisions stamp events with the service clock, the database stamps them with its own.
    /// </summary>
    public static IReadOnlyList<ClaimTotalsLine> Fold(IEnumerable<object> events, Instant? asOf = null)
    {
        var lines = new Dictionary<Guid, ClaimTotalsLine>();
        foreach (var e in events)
        {
            if (asOf is { } cutoff && BusinessTime(e) > cutoff) continue;
            foreach (var claimId in ClaimIdsOf(e))
                if (Applying(lines.GetValueOrDefault(claimId), e) is { } line) lines[claimId] = line;
        }
        return [.. lines.Values];
    }

    /// <summary>One claim's part of a payout (a payout pays one buyer, possibly for several claims): its lines over every pool, in the fund currency.</summary>
    public static Money AmountFor(Guid claimId, IReadOnlyList<Funds.PayoutLine> lines) =>
        lines.Where(l => l.ClaimId == claimId).Select(l => l.Amount).Aggregate((a, b) => a + b);

    /// <summary>The claims an event counts for: a claim event its claim, a payout event every claim it pays.</summary>
    public static IReadOnlyList<Guid> ClaimIdsOf(object e) => e switch
    {
        IClaimEvent claimEvent => [claimEvent.ClaimId],
        Funds.PayoutSettled settled => ClaimsOf(Funds.PayoutLines.Of(settled)),
        Funds.PayoutReturned returned => ClaimsOf(Funds.PayoutLines.Of(returned)),
        _ => [],
    };

    private static IReadOnlyList<Guid> ClaimsOf(IEnumerable<Funds.PayoutLine> lines) => lines.Select(l => l.ClaimId).Distinct().ToArray();
}

/// <summary>
/// Totals over a set of claims, in the fund currency, with what cannot be converted yet kept per currency paid.
/// </summary>
/// <param name="Claimed">Losses claimed (every filed claim, whatever its status) that are known in the fund currency.</param>
/// <param name="ClaimedUnconverted">Losses paid in another currency with no approval (so no recorded rate applied) yet: per currency, not added in.</param>
/// <param name="Verified">Losses of claims whose latest verification found them eligible, in the fund currency.</param>
/// <param name="Entitled">Entitlements of approved claims.</param>
/// <param name="Outstanding">Entitled - paid (a returned payout never reached the buyer, so it is still owed).</param>
/// <param name="PaidToLost">Paid / claimed, in the fund currency, to 4 decimal places; null when nothing is claimed in it.</param>
/// <param name="ByStatus">Number of claims in each status (kebab-case names, every status, in lifecycle order).</param>
public sealed record ClaimTotals(
    int Claims,
    Money Claimed,
    IReadOnlyList<Money> ClaimedUnconverted,
    Money Verified,
    IReadOnlyList<Money> VerifiedUnconverted,
    Money Entitled,
    Money Paid,
    Money Returned,
    Money Outstanding,
    decimal? PaidToLost,
    IReadOnlyDictionary<string, int> ByStatus)
{
    /// <summary>Sums lines that share one fund currency (<see cref="FundCurrencyOf"/> says which, or that they do not).</summary>
    public static ClaimTotals Sum(IEnumerable<ClaimTotalsLine> lines, string fundCurrency)
    {
        var list = lines.ToList();
        if (list.FirstOrDefault(l => l.FundCurrency != fundCurrency) is { } other)
            throw new InvalidOperationException($"Claim {other.Id} is paid in {other.FundCurrency}, not {fundCurrency}.");

        Money Total(Func<ClaimTotalsLine, decimal> amount) => Stated(list.Sum(amount), fundCurrency);
        static IReadOnlyList<Money> PerCurrency(IEnumerable<ClaimTotalsLine> unconverted) =>
            [.. unconverted.GroupBy(l => l.AmountPaid.Currency).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => Stated(g.Sum(l => l.AmountPaid.Amount), g.Key))];

        var claimed = Total(l => l.LossInFundCurrency ?? 0m);
        var paid = Total(l => l.Paid);
        var returned = Total(l => l.Returned);
        var entitled = Total(l => l.Entitled);
        var verified = list.Where(l => l.VerifiedEligible).ToList();
        var byStatus = Enum.GetValues<ClaimStatus>().ToDictionary(ListClaimsEndpoint.StatusName, s => list.Count(l => l.Status == s));
        return new ClaimTotals(
            list.Count,
            claimed,
            PerCurrency(list.Where(l => l.LossInFundCurrency is null)),
            Stated(verified.Sum(l => l.LossInFundCurrency ?? 0m), fundCurrency),
            PerCurrency(verified.Where(l => l.LossInFundCurrency is null)),
            entitled,
            paid,
            returned,
            entitled - paid,
            Ratio(paid.Amount, claimed.Amount),
            byStatus);
    }

    /// <summary>
    /// The sum with the currency's decimal places written out (0.00 USD, not 0): adding a zero of that scale
    /// changes no value, only how it prints. Sums of amounts already in minor units never need rounding.
    /// </summary>
    public static Money Stated(decimal amount, string currency) =>
        new(amount + new decimal(0, 0, 0, false, (byte)(Currencies.MinorUnits(currency) ?? 2)), currency);

    public static decimal? Ratio(decimal paidBack, decimal lost) =>
        lost == 0m ? null : decimal.Round(paidBack / lost, 4, MidpointRounding.AwayFromZero);

    /// <summary>The one fund currency of the lines, <paramref name="fallback"/> when there are none, null when they mix currencies.</summary>
    public static string? FundCurrencyOf(IEnumerable<ClaimTotalsLine> lines, string fallback)
    {
        var currencies = lines.Select(l => l.FundCurrency).Distinct(StringComparer.Ordinal).ToList();
        return currencies switch
        {
            [] => fallback,
            [var one] => one,
            _ => null,
        };
    }
}
