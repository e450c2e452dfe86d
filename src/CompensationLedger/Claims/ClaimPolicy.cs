using Marten;
using CompensationLedger.Infrastructure;
using NodaTime;

namespace CompensationLedger.Claims;

/// <summary>
/// The fund's claim policy, from configuration section <c>Ledger:Policy</c> until the fund feature
/// brings versioned policies. Each claim records on <see cref="ClaimFiled"/> the terms that applied
/// (<see cref="PolicyTerms"/>), and is decided under them, so a later policy never changes an old claim.
/// </summary>
public sealed record ClaimPolicySettings
{
    public const string Section = "Ledger:Policy";

    /// <summary>Names the terms, so the fund's versioned policy can take over and old claims still say which applied.</summary>
    public string Version { get; init; } = "config-1";

    public string FundCurrency { get; init; } = "USD";

    public decimal CoverageRatio { get; init; } = 0.70m;

    public decimal CapPerClaim { get; init; } = 1000.00m;

    public decimal MinimumPayment { get; init; }

    public int FilingWindowDays { get; init; } = 90;

    public int DeficiencyDeadlineDays { get; init; } = 30;

    public int AppealWindowDays { get; init; } = 60;

    /// <summary>
    /// The platforms whose buyers the fund pays (the real Fair Play Fund was Alibaba.com's). Empty: every
    /// platform of the case. A claim on a case platform outside this list counts in the case's losses but is ineligible.
    /// </summary>
    public IReadOnlyList<string> EligiblePlatforms { get; init; } = [];

    public static ClaimPolicySettings From(IConfiguration configuration)
    {
        var settings = configuration.GetSection(Section).Get<ClaimPolicySettings>() ?? new ClaimPolicySettings();
        var problems = settings.Problems().ToList();
        if (problems.Count > 0)
            throw new InvalidOperationException($"Configuration {Section} is invalid: {string.Join(" ", problems)}");
        return settings;
    }

    public IEnumerable<string> Problems()
    {
        if (Currencies.MinorUnits(FundCurrency) is not { } units) { yield return $"FundCurrency '{FundCurrency}' is not an ISO 4217 code."; yield break; }
        if (CoverageRatio is <= 0m or > 1m) yield return "CoverageRatio must be above 0 and at most 1.";
        if (CapPerClaim <= 0m || Money.Scale(CapPerClaim) > units) yield return $"CapPerClaim must be positive with at most {units} decimals.";
        if (MinimumPayment < 0m || Money.Scale(MinimumPayment) > units) yield return $"MinimumPayment must be 0 or more with at most {units} decimals.";
        if (FilingWindowDays < 1 || DeficiencyDeadlineDays < 1 || AppealWindowDays < 1) yield return "The windows and deadlines must be at least 1 day.";
        if (string.IsNullOrWhiteSpace(Version)) yield return "Version is required.";
    }

    public PolicyTerms Terms() => new(
        Version, "configuration", FundCurrency, CoverageRatio, new Money(CapPerClaim, FundCurrency), new Money(MinimumPayment, FundCurrency),
        FilingWindowDays, DeficiencyDeadlineDays, AppealWindowDays, EligiblePlatforms.Select(p => p.Trim()).ToArray());
}

/// <summary>Which policy a new claim is filed under.</summary>
public static class ClaimPolicies
{
    /// <summary>
    /// The fund's policy version in force at filing when a fund covers the claim's case (the fund's currency
    /// and eligible platforms with it); otherwise the configured default policy (<c>Ledger:Policy</c>), for
    /// cases no fund covers yet. The terms are recorded on the filing, so the claim is decided under them
    /// whatever later versions say.
    /// </summary>
    public static PolicyTerms For(Funds.FundTerms? fund, ClaimPolicySettings configured, Instant filedAt) =>
        fund is not null && Funds.Policy.InForce(fund.Policies, filedAt) is { } version
            ? new PolicyTerms($"{fund.Name} v{version.Version} (from {version.EffectiveFrom:uuuu-MM-dd})", $"fund {fund.Id}", fund.Currency,
                version.CoverageRatio, version.CapPerClaim, version.MinimumPayment, version.FilingWindowDays, version.DeficiencyDeadlineDays,
                version.AppealWindowDays, fund.EligiblePlatforms)
            : configured.Terms();

    /// <inheritdoc cref="For(Funds.FundTerms?, ClaimPolicySettings, Instant)"/>
    public static PolicyTerms For(Funds.Fund? fund, ClaimPolicySettings configured, Instant filedAt) =>
        For(fund is null ? null : Funds.FundTerms.Of(fund), configured, filedAt);

    public static async Task<PolicyTerms> ForCase(IQuerySession session, Guid caseId, ClaimPolicySettings configured, Instant filedAt, CancellationToken ct) =>
        For(await Funds.CaseCoverages.TermsOf(session, caseId, ct), configured, filedAt);
}

/// <summary>The policy terms a claim was filed under, recorded on <see cref="ClaimFiled"/>.</summary>
/// <param name="Source">Where the terms came from: <c>configuration</c> now, the fund's policy stream later.</param>
public sealed record PolicyTerms(
    string Version,
    string Source,
    string FundCurrency,
    decimal CoverageRatio,
    Money CapPerClaim,
    Money MinimumPayment,
    int FilingWindowDays,
    int DeficiencyDeadlineDays,
    int AppealWindowDays,
    IReadOnlyList<string> EligiblePlatforms)
{
    /// <summary>The last day a payment made on <paramref name="paymentDate"/> can be claimed.</summary>
    public LocalDate LastFilingDay(LocalDate paymentDate) => paymentDate.PlusDays(FilingWindowDays);

    public bool IsPlatformEligible(string platform) =>
        EligiblePlatforms.Count == 0 || EligiblePlatforms.Any(p => string.Equals(p, platform, StringComparison.OrdinalIgnoreCase));
}

/// <summary>
/// The entitlement rule: <c>min(coverage x loss, cap)</c>, the loss converted to the fund's currency at
/// the rate finance recorded for the payment date. Nothing is rounded until the end, and then once
/// (<see cref="Money.RoundedHalfAwayFromZero"/>): $1,400 -> $980.00, $1,401 -> $980.70, $2,000 -> $1,000.00.
/// </summary>
public static class Entitlements
{
    /// <param name="rate">The recorded rate for the loss's currency on the payment date; ignored when the loss is in the fund's currency.</param>
    public static EntitlementComputation? Compute(Money loss, LocalDate paymentDate, PolicyTerms policy, ExchangeRates.ExchangeRate? rate, out Refusal? refusal)
    {
        refusal = null;
        AppliedRate? applied = null;
        var lossInFundCurrency = loss.Amount;
        if (loss.Currency != policy.FundCurrency)
        {
            if (rate is null || rate.Currency != loss.Currency || rate.FundCurrency != policy.FundCurrency || rate.Date != paymentDate)
            {
                refusal = new Refusal("no-exchange-rate",
                    $"Finance has not recorded a {loss.Currency}/{policy.FundCurrency} rate for {paymentDate:yyyy-MM-dd}, the payment date. " +
                    "The entitlement is not guessed: record the rate (POST /api/exchange-rates) and approve again.",
                    Facts: new Dictionary<string, object?> { ["currency"] = loss.Currency, ["fundCurrency"] = policy.FundCurrency, ["date"] = paymentDate.ToString("yyyy-MM-dd", null) });
                return null;
            }
            applied = new AppliedRate(rate.Currency, rate.FundCurrency, rate.Date, rate.Rate, rate.FundId);
            lossInFundCurrency = loss.Amount * rate.Rate;
        }

        var covered = policy.CoverageRatio * lossInFundCurrency;
        var capped = covered > policy.CapPerClaim.Amount;
        var entitlement = Money.RoundedHalfAwayFromZero(capped ? policy.CapPerClaim.Amount : covered, policy.FundCurrency);
        return new EntitlementComputation(entitlement, loss, lossInFundCurrency, applied, policy.CoverageRatio, policy.CapPerClaim, capped, policy.Version);
    }
}
