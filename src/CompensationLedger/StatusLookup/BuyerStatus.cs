using System.Globalization;
using CompensationLedger.Claims;
using NodaTime;
using NodaTime.Text;

namespace CompensationLedger.StatusLookup;

/// <summary>
/// A claim as its buyer sees it: where it is, in plain words; what happened, when; what is missing
/// and by when; what they are owed and how that was worked out; what was paid.
/// Never staff names, internal notes, other buyers' data or full bank account numbers.
/// </summary>
public sealed record BuyerClaimStatus(
    string Reference,
    ClaimStatus Status,
    string Headline,
    string Explanation,
    LocalDate FiledOn,
    string Platform,
    string SupplierAccount,
    Money AmountClaimed,
    string? PaidToAccount,
    MissingInformation? Missing,
    BuyerEntitlement? Entitlement,
    Money Paid,
    IReadOnlyList<BuyerPayment> Payments,
    IReadOnlyList<TimelineEntry> Timeline,
    string NextStep);

/// <summary>What the buyer still has to send, and the last moment to send it.</summary>
public sealed record MissingInformation(int RequestNumber, IReadOnlyList<string> Items, Instant Deadline, string DeadlineText);

/// <summary>What the fund owes, and the arithmetic behind it in words.</summary>
public sealed record BuyerEntitlement(Money Amount, string HowComputed);

/// <summary>One payment to the buyer (filled in by the fund's payouts).</summary>
/// <param name="Amount">What this payment carries for this claim.</param>
/// <param name="PaymentTotal">The whole transfer: one payment pays all of a buyer's claims of a round together (equal to <paramref name="Amount"/> for one claim).</param>
/// <param name="ForClaims">The buyer's claims this one transfer pays, by reference.</param>
public sealed record BuyerPayment(LocalDate Date, Money Amount, string Status, string? WhatToDo, Money? PaymentTotal = null, IReadOnlyList<string>? ForClaims = null);

/// <summary>One payout that pays the claim, as the buyer's status needs it.</summary>
/// <param name="Amount">The whole transfer.</param>
/// <param name="Part">What it carries for this claim (normalised: no trailing zeros, as <see cref="Funds.Fund.Normalised"/>).</param>
/// <param name="ClaimReferences">The claims the transfer pays, in ordinal order.</param>
/// <param name="Reissued">A returned payout that was sent again.</param>
public sealed record ClaimPayment(Funds.PayoutStatus Status, Instant IssuedAt, Instant? SettledAt, Instant? ReturnedAt, bool Reissued, Money Amount, Money Part,
    IReadOnlyList<string> ClaimReferences)
{
    public static ClaimPayment Of(Funds.Payout p, Guid claimId) =>
        new(p.Status, p.IssuedAt, p.SettledAt, p.ReturnedAt, p.ReissuedAs is not null, p.Amount, new Money(Funds.Fund.Normalised(p.For(claimId)), p.Amount.Currency),
            p.ClaimReferences);
}

/// <summary>One step of the claim's history, told to the buyer.</summary>
public sealed record TimelineEntry(Instant At, string Title, string Detail);

public static class BuyerStatus
{
    private static readonly InstantPattern DeadlinePattern = InstantPattern.CreateWithInvariantCulture("uuuu'-'MM'-'dd HH':'mm 'UTC'");

    public static BuyerClaimStatus From(Claim claim, IEnumerable<object> events, IReadOnlyList<Funds.Payout>? payouts = null) =>
        FromPayments(claim, events, (payouts ?? []).Where(p => p.Pays(claim.Id)).Select(p => ClaimPayment.Of(p, claim.Id)).ToArray());

    /// <summary>As <see cref="From"/>, from the payments of this claim as the report tables hold them (no fund document needed).</summary>
    public static BuyerClaimStatus FromPayments(Claim claim, IEnumerable<object> events, IReadOnlyList<ClaimPayment> payments)
    {
        var timeline = events.Select(Describe).Where(e => e is not null).Select(e => e!)
            .Concat(payments.SelectMany(PaymentSteps))
            .OrderBy(e => e.At)
            .ToList();
        var entitlement = claim.Entitlement is { } computation ? new BuyerEntitlement(computation.Entitlement, HowComputed(computation)) : null;
        var missing = claim.OpenRequest is { } open
            ? new MissingInformation(open.RequestNumber, open.Missing, open.Deadline, Format(open.Deadline))
            : null;
        var (headline, explanation, next) = Words(claim);
        return new BuyerClaimStatus(
            claim.Reference,
            claim.Status,
            headline,
            explanation,
            claim.FiledAt.InUtc().Date,
            claim.Platform,
            claim.SupplierAccount,
            claim.AmountPaid,
            claim.BeneficiaryAccount is { } account ? Cases.AccountNumbers.Mask(account) : null,
            missing,
            entitlement,
            payments.Where(p => p.Status == Funds.PayoutStatus.Settled).Select(p => p.Part).Aggregate(Money.Zero(claim.Policy.FundCurrency), (a, b) => a + b),
            payments.OrderBy(p => p.IssuedAt).Select(Payment).ToArray(),
            timeline,
            next);
    }

    private static BuyerPayment Payment(ClaimPayment p) => p.Status switch
    {
        Funds.PayoutStatus.Settled => new BuyerPayment(p.SettledAt!.Value.InUtc().Date, p.Part, "paid", null, p.Amount, p.ClaimReferences),
        Funds.PayoutStatus.Returned => new BuyerPayment(p.ReturnedAt!.Value.InUtc().Date, p.Part, "returned by the bank",
            !p.Reissued
                ? "Your bank returned this payment. Contact the fund with your claim reference and your correct bank details; the money is kept for you."
                : "Your bank returned this payment; it was sent again to the corrected bank details.", p.Amount, p.ClaimReferences),
        _ => new BuyerPayment(p.IssuedAt.InUtc().Date, p.Part, "on its way", "The payment has been sent; banks usually take a few working days.", p.Amount, p.ClaimReferences),
    };

    private static IEnumerable<TimelineEntry> PaymentSteps(ClaimPayment p)
    {
        var together = p.ClaimReferences.Count > 1
            ? $" It is {Amount(p.Part)} for this claim, in one payment of {Amount(p.Amount)} for your claims {string.Join(", ", p.ClaimReferences)}."
            : "";
        yield return new TimelineEntry(p.IssuedAt, "Payment sent", $"{Amount(p.Amount)} was sent to your bank account.{together}");
        if (p.SettledAt is { } settled) yield return new TimelineEntry(settled, "Payment received by your bank", $"{Amount(p.Amount)} was paid.{together}");
        if (p.ReturnedAt is { } returned) yield return new TimelineEntry(returned, "Payment returned", $"Your bank returned {Amount(p.Amount)}.{together}");
    }

    public static string Format(Instant instant) => DeadlinePattern.Format(instant);

    private static string Amount(Money money) => money.ToString();

    private static (string Headline, string Explanation, string NextStep) Words(Claim claim) => claim.Status switch
    {
        ClaimStatus.Filed => ("Received",
            "We have your claim. Our staff will check it against what the investigators established about the fraud.",
            "Nothing to do for now. We will write here when the check is done."),
        ClaimStatus.VerifiedEligible => ("Checked: a decision is next",
            "Your claim matches the fraud investigation. A claims approver will now decide on it.",
            "Nothing to do for now."),
        ClaimStatus.NeedsReview => ("Being reviewed",
            "Some details of your claim need a closer look by our staff before a decision.",
            "Nothing to do for now; we will ask you if we need anything."),
        ClaimStatus.VerifiedIneligible => ("Not eligible",
            "Your claim does not meet the fund's rules: " + string.Join(" ", (claim.LastVerification?.Reasons ?? []).Select(CheckInWords)),
            "If you think this is wrong, contact the fund with your claim reference."),
        ClaimStatus.AwaitingInformation => ("Waiting for information from you",
            $"We need more information to continue: {string.Join("; ", claim.OpenRequest?.Missing ?? [])}.",
            claim.OpenRequest is { } open
                ? $"Send it before {Format(open.Deadline)}, or the claim will close."
                : "Send the information we asked for."),
        ClaimStatus.Approved => ("Approved",
            claim.Entitlement is { } e ? $"The fund owes you {Amount(e.Entitlement)}." : "Your claim was approved.",
            "Payment follows in a distribution round; each payment will appear here. If the fund has less money than approved claims, payments are made in parts, the same share for everyone."),
        ClaimStatus.Rejected => ("Not approved",
            RejectionInWords(claim.RejectionReason),
            claim.Appealed
                ? "The appeal was decided; this decision is final."
                : claim.RejectedAt is { } rejected
                    ? $"You may appeal until {Format(rejected + Duration.FromDays(claim.Policy.AppealWindowDays))}: contact the fund with your claim reference and why you disagree."
                    : "Contact the fund if you disagree."),
        ClaimStatus.UnderAppeal => ("Appeal being decided",
            "Your appeal was received. A claims approver who did not make the first decision will decide on it.",
            "Nothing to do for now."),
        ClaimStatus.Lapsed => ("Closed: information not received",
            "We asked for information and did not receive it by the deadline, so the claim was closed.",
            "If you still have the information, contact the fund with your claim reference."),
        ClaimStatus.Withdrawn => ("Withdrawn",
            "The claim was withdrawn at your request.",
            "Nothing to do."),
        _ => (claim.Status.ToString(), "", ""),
    };

    private static string HowComputed(EntitlementComputation c)
    {
        var loss = c.Rate is { } rate
            ? $"You paid {Amount(c.Loss)}; at the rate of {rate.Rate.ToString(CultureInfo.InvariantCulture)} {rate.FundCurrency} per {rate.Currency} recorded for {rate.Date:uuuu-MM-dd}, that is {c.LossInFundCurrency.ToString("0.00##", CultureInfo.InvariantCulture)} {rate.FundCurrency}."
            : $"You paid {Amount(c.Loss)}.";
        var ratio = (c.CoverageRatio * 100m).ToString("0.##", CultureInfo.InvariantCulture);
        return c.Capped
            ? $"{loss} The fund pays {ratio}% of a loss, at most {Amount(c.Cap)} per claim, so you are owed {Amount(c.Entitlement)}."
            : $"{loss} The fund pays {ratio}% of a loss (at most {Amount(c.Cap)} per claim), so you are owed {Amount(c.Entitlement)}.";
    }

    private static TimelineEntry? Describe(object e) => e switch
    {
        ClaimFiled f => new TimelineEntry(f.FiledAt, "Claim received", $"Your claim {f.Reference} for {Amount(f.AmountPaid)} paid on {f.PaymentDate:uuuu-MM-dd} was recorded."),
        ClaimVerified v => new TimelineEntry(v.VerifiedAt, "Claim checked", v.Result switch
        {
            VerificationResult.VerifiedEligible => "It matches the fraud investigation.",
            VerificationResult.NeedsReview => "Some details need a closer look.",
            _ => "It does not meet the fund's rules: " + string.Join(" ", v.Reasons.Select(CheckInWords)),
        }),
        ClaimInformationRequested r => new TimelineEntry(r.RequestedAt, "Information requested",
            $"We asked for: {string.Join("; ", r.Missing)}. Deadline: {Format(r.Deadline)}."),
        ClaimInformationProvided p => new TimelineEntry(p.ProvidedAt, "Information received",
            p.Evidence.Count > 0 ? $"Your answer and {p.Evidence.Count} document(s) were recorded." : "Your answer was recorded."),
        ClaimLapsed l => new TimelineEntry(l.LapsedAt, "Claim closed", $"The information was not received by {Format(l.Deadline)}."),
        ClaimApproved a => new TimelineEntry(a.ApprovedAt, "Claim approved", $"You are owed {Amount(a.Computation.Entitlement)}."),
        ClaimRejected r => new TimelineEntry(r.RejectedAt, "Claim not approved", RejectionInWords(r.Reason)),
        ClaimAppealed a => new TimelineEntry(a.AppealedAt, "Appeal received", "Your appeal will be decided by a different approver."),
        ClaimAppealGranted g => new TimelineEntry(g.DecidedAt, "Appeal granted", $"Your claim is approved: you are owed {Amount(g.Computation.Entitlement)}."),
        ClaimAppealDismissed d => new TimelineEntry(d.DecidedAt, "Appeal not granted", "The first decision stands; this decision is final."),
        ClaimWithdrawn w => new TimelineEntry(w.WithdrawnAt, "Claim withdrawn", "The claim was withdrawn at your request."),
        _ => null, // internal facts (e.g. a data erasure) are not part of the buyer's story
    };

    public static string RejectionInWords(RejectionReason? reason) => reason switch
    {
        RejectionReason.NotLinkedToCase => "We could not link your payment to the suppliers or bank accounts in the fraud investigation.",
        RejectionReason.PlatformNotEligible => "The fund only covers purchases made on the platforms it was set up for.",
        RejectionReason.FiledLate => "The claim was made after the time allowed for claims.",
        RejectionReason.Duplicate => "This payment has already been claimed.",
        RejectionReason.PaymentOutsideCasePeriod => "The payment was made outside the period the fraud ring was active.",
        RejectionReason.InsufficientEvidence => "The evidence we have is not enough to show the loss.",
        RejectionReason.SuspectedFraudulentClaim => "The claim could not be accepted after review.",
        _ => "The claim could not be accepted.",
    };

    public static string CheckInWords(ClaimCheck check) => check switch
    {
        ClaimCheck.PlatformCoveredByCase => "The platform is not part of the fraud investigation.",
        ClaimCheck.PlatformEligibleForFund => "The fund does not cover purchases on this platform.",
        ClaimCheck.SupplierAccountFlagged => "The supplier is not one of the accounts the investigation identified.",
        ClaimCheck.BeneficiaryAccountFlagged => "The bank account you paid is not one the investigation identified.",
        ClaimCheck.PaymentWithinCasePeriod => "The payment was made outside the period the fraud ring was active.",
        ClaimCheck.FiledWithinWindow => "The claim was made after the time allowed for claims.",
        ClaimCheck.NotDuplicate => "This payment has already been claimed.",
        ClaimCheck.AmountValid => "The amount paid is not valid.",
        _ => "A check did not pass.",
    };
}
