using NodaTime;

namespace CompensationLedger.Funds;

/// <summary>
/// One version of the fund's policy: data, not code. A claim is decided under the version in force
/// when it was filed; a round uses the version in force when it is prepared.
/// </summary>
/// <param name="CoverageRatio">Share of the loss the fund pays, e.g. 0.70.</param>
/// <param name="CapPerClaim">The most one claim is entitled to, e.g. 1,000.00 USD.</param>
/// <param name="CapPerBuyer">Optional: the most one buyer is entitled to across claims.</param>
/// <param name="MinimumPayment">A round allocation smaller than this is carried to a later round, unless it pays the claim off.</param>
/// <param name="GeneralPoolBacksPerpetratorPools">
/// Whether the general pool pays what a claim's perpetrator pool could not. Off by default: the
/// Fair Play Fund stopped paying a supplier's claims when that supplier's forfeited fees ran out.
/// </param>
public sealed record PolicyVersion(
    int Version,
    LocalDate EffectiveFrom,
    decimal CoverageRatio,
    Money CapPerClaim,
    Money? CapPerBuyer,
    Money MinimumPayment,
    int FilingWindowDays,
    int DeficiencyDeadlineDays,
    int AppealWindowDays,
    bool GeneralPoolBacksPerpetratorPools);

public static class Policy
{
    /// <summary>
    /// The version in force at an instant: the one with the latest effective date on or before the
    /// instant's UTC date; of versions with the same date, the later one. Null before the first.
    /// </summary>
    public static PolicyVersion? InForce(IEnumerable<PolicyVersion> versions, Instant at)
    {
        var date = at.InUtc().Date;
        return versions.Where(v => v.EffectiveFrom <= date)
            .OrderByDescending(v => v.EffectiveFrom).ThenByDescending(v => v.Version)
            .FirstOrDefault();
    }
}
