using CompensationLedger.Cases;
using CompensationLedger.Claims;
using CompensationLedger.ExchangeRates;
using CompensationLedger.Infrastructure;
using NodaTime;

namespace CompensationLedger.Specs.Claims;

/// <summary>The world the claim specs start from: a Putian-like case, the configured policy, and a filed claim's events.</summary>
public static class ClaimGiven
{
    public static readonly Instant Now = Instant.FromUtc(2011, 4, 11, 8, 0);
    public const string Handler = "hana.handler";
    public const string Verifier = "vera.verifier";
    public const string Approver = "abe.approver";
    public const string OtherApprover = "olga.approver";

    public static readonly FraudCase PutianCase = FraudCase.Create(new FraudCaseOpened(
            Guid.Parse("0195a2c0-2011-7000-8000-0000000000aa"), "Putian ring", ["Alibaba.com", "Made-in-China.com", "EC21.com", "ECPLAZA.net"],
            new LocalDate(2009, 6, 1), new LocalDate(2011, 2, 28), Money.Of(6_600_000m, "USD"), "ivy", Now))
        .Apply(new SupplierAccountsFlagged(Guid.Empty,
        [
            new FlaggedSupplierAccount("Alibaba.com", "cnxinda", "Putian Xinda Electronics"),
            new FlaggedSupplierAccount("ECPLAZA.net", "huaxin", "Huaxin Digital"),
        ], "ivy", Now))
        .Apply(new BankAccountsFlagged(Guid.Empty, [new FlaggedBankAccount("6222340200007919", "ICBC", null, "CN")], "ivy", Now));

    /// <summary>The policy of appsettings.json: 70%, $1,000 cap, 90/30/60 days, ECPLAZA.net not paid by the fund.</summary>
    public static readonly PolicyTerms Policy = new ClaimPolicySettings
    {
        EligiblePlatforms = ["Alibaba.com", "Made-in-China.com", "EC21.com"],
    }.Terms();

    public static FileClaim Filing(decimal amount = 1400.00m, string currency = "USD", string platform = "Alibaba.com", string supplier = "CNXinda",
        string? beneficiary = "6222 3402 0000 7919", LocalDate? paymentDate = null, string paymentReference = "TT-2011-0001") =>
        new(PutianCase.Id, new ClaimantBuyer("Jane Buyer", "US", "jane@example.com", "Buyer Imports LLC"),
            platform, supplier, "ORD-1", new LocalDate(2011, 1, 20), paymentDate ?? new LocalDate(2011, 1, 25),
            Money.Of(amount, currency), paymentReference, "200 laptops", beneficiary,
            [new EvidenceDocument("transfer.pdf", new string('a', 64))]);

    public static ClaimFiled Filed(FileClaim? filing = null, Instant? at = null) =>
        (ClaimFiled)FileClaimEndpoint.Decide(Guid.Parse("0195a2c0-2011-7000-8000-0000000000c1"), "CL-2011-000001-3", filing ?? Filing(), PutianCase, Policy, null, Handler, at ?? Now)
            .Events.Single();

    public static ClaimVerified Verified(Claim claim, string verifier = Verifier) =>
        (ClaimVerified)VerifyClaimEndpoint.Decide(claim, PutianCase, Fingerprints(claim), verifier, Now).Events.Single();

    public static IReadOnlyList<ClaimFingerprint> Fingerprints(Claim claim) =>
        [new ClaimFingerprint("pay:x", ClaimFingerprints.PaymentReference, claim.Id, claim.Reference)];

    /// <summary>A claim built from events, as Marten would build it.</summary>
    public static Claim Given(params object[] events) => Claim.Fold(events);

    public static Claim VerifiedEligible(FileClaim? filing = null)
    {
        var claim = Given(Filed(filing));
        var verified = Verified(claim);
        verified.Result.ShouldBe(VerificationResult.VerifiedEligible);
        return Claim.Applying(claim, verified);
    }

    public static Claim Rejected(Claim? from = null)
    {
        var claim = from ?? VerifiedEligible();
        return Claim.Applying(claim, RejectClaimEndpoint.Decide(claim, new RejectClaim(RejectionReason.InsufficientEvidence), Approver, Now).Events.Single());
    }

    public static ExchangeRate Rate(string currency, decimal rate, LocalDate? date = null) =>
        ExchangeRate.From(new ExchangeRateRecorded(Guid.Empty, currency, "USD", date ?? new LocalDate(2011, 1, 25), rate, "fin", Now));

    public static T Then<T>(this Decision decision)
    {
        decision.Refusal.ShouldBeNull(decision.Refusal?.Detail);
        return decision.Events.ShouldHaveSingleItem().ShouldBeOfType<T>();
    }

    public static Refusal Refused(this Decision decision, string code)
    {
        decision.Events.ShouldBeEmpty();
        var refusal = decision.Refusal.ShouldNotBeNull();
        refusal.Code.ShouldBe(code, refusal.Detail);
        return refusal;
    }
}
