using CompensationLedger.Claims;
using NodaTime;
using static CompensationLedger.Specs.Claims.ClaimGiven;

namespace CompensationLedger.Specs.Claims;

public sealed class FilingSpecs
{
    [Fact]
    public void a_filing_records_the_claim_and_the_policy_it_falls_under_without_the_buyers_personal_data()
    {
        var filed = FileClaimEndpoint.Decide(Guid.NewGuid(), "CL-2011-000001-3", Filing(), PutianCase, Policy, null, Handler, Now).Then<ClaimFiled>();

        filed.SupplierAccount.ShouldBe("cnxinda");
        filed.BeneficiaryAccount.ShouldBe("6222340200007919");
        filed.BuyerCountry.ShouldBe("US");
        filed.Policy.ShouldBe(Policy);
        filed.FiledBy.ShouldBe(Handler);
        filed.FiledAt.ShouldBe(Now);
        System.Text.Json.JsonSerializer.Serialize(filed).ShouldNotContain("Jane");
        Claim.Create(filed).Status.ShouldBe(ClaimStatus.Filed);
    }

    [Fact]
    public void a_filing_on_the_last_day_of_the_window_is_accepted_and_one_day_later_refused()
    {
        var paid = new LocalDate(2011, 1, 25);
        var lastDay = paid.PlusDays(90).AtMidnight().InUtc().ToInstant();
        FileClaimEndpoint.Decide(Guid.NewGuid(), "r", Filing(paymentDate: paid), PutianCase, Policy, null, Handler, lastDay + Duration.FromHours(23)).Then<ClaimFiled>();

        var refusal = FileClaimEndpoint.Decide(Guid.NewGuid(), "r", Filing(paymentDate: paid), PutianCase, Policy, null, Handler, lastDay + Duration.FromDays(1))
            .Refused("filing-window-closed");
        refusal.Detail.ShouldContain("2011-04-25");
    }

    [Fact]
    public void a_duplicate_is_refused_with_the_existing_claims_reference()
    {
        var existing = new ClaimFingerprint("pay:x", ClaimFingerprints.PaymentReference, Guid.NewGuid(), "CL-2011-000007-1");

        var refusal = FileClaimEndpoint.Decide(Guid.NewGuid(), "r", Filing(), PutianCase, Policy, existing, Handler, Now).Refused("duplicate-claim");

        refusal.Facts!["existingReference"].ShouldBe("CL-2011-000007-1");
    }

    [Fact]
    public void a_payment_dated_in_the_future_is_refused()
    {
        FileClaimEndpoint.Decide(Guid.NewGuid(), "r", Filing(paymentDate: new LocalDate(2011, 4, 12)), PutianCase, Policy, null, Handler, Now).Refused("date-in-future");
    }
}

public sealed class VerificationSpecs
{
    private static ClaimVerified Verify(FileClaim filing) => VerifyClaimEndpoint.Decide(Given(Filed(filing)), PutianCase, Fingerprints(Given(Filed(filing))), Verifier, Now).Then<ClaimVerified>();

    [Fact]
    public void a_claim_against_a_flagged_supplier_paid_to_a_flagged_account_is_eligible_with_every_check_recorded()
    {
        var verified = Verify(Filing());

        verified.Result.ShouldBe(VerificationResult.VerifiedEligible);
        verified.Reasons.ShouldBeEmpty();
        verified.Checks.Select(c => c.Check).ShouldBe(Enum.GetValues<ClaimCheck>(), ignoreOrder: true);
        verified.Checks.ShouldAllBe(c => c.Outcome == CheckOutcome.Passed);
        verified.Checks.Single(c => c.Check == ClaimCheck.SupplierAccountFlagged).Evidence.ShouldContain("Alibaba.com/cnxinda");
        verified.Checks.Single(c => c.Check == ClaimCheck.BeneficiaryAccountFlagged).Evidence.ShouldContain("••••7919");
    }

    [Fact]
    public void without_a_beneficiary_account_that_check_is_not_applicable_and_the_supplier_flag_suffices()
    {
        var verified = Verify(Filing(beneficiary: null));

        verified.Result.ShouldBe(VerificationResult.VerifiedEligible);
        verified.Checks.Single(c => c.Check == ClaimCheck.BeneficiaryAccountFlagged).Outcome.ShouldBe(CheckOutcome.NotApplicable);
    }

    [Fact]
    public void a_supplier_on_a_case_platform_the_fund_does_not_pay_is_ineligible()
    {
        var verified = Verify(Filing(platform: "ECPLAZA.net", supplier: "huaxin"));

        verified.Result.ShouldBe(VerificationResult.VerifiedIneligible);
        verified.Reasons.ShouldBe([ClaimCheck.PlatformEligibleForFund]);
        verified.Checks.Single(c => c.Check == ClaimCheck.SupplierAccountFlagged).Outcome.ShouldBe(CheckOutcome.Passed);
    }

    [Fact]
    public void a_platform_outside_the_case_is_ineligible()
    {
        var verified = Verify(Filing(platform: "DHgate.com"));

        verified.Result.ShouldBe(VerificationResult.VerifiedIneligible);
        verified.Reasons.ShouldContain(ClaimCheck.PlatformCoveredByCase);
        verified.Checks.Single(c => c.Check == ClaimCheck.PlatformEligibleForFund).Outcome.ShouldBe(CheckOutcome.NotApplicable);
    }

    [Fact]
    public void nothing_tying_the_order_to_the_ring_is_ineligible()
    {
        var verified = Verify(Filing(supplier: "honest-trader", beneficiary: "DE89370400440532013000"));

        verified.Result.ShouldBe(VerificationResult.VerifiedIneligible);
        verified.Reasons.ShouldBe([ClaimCheck.SupplierAccountFlagged, ClaimCheck.BeneficiaryAccountFlagged]);
    }

    [Fact]
    public void a_flagged_supplier_paid_on_an_unflagged_account_needs_review()
    {
        var verified = Verify(Filing(beneficiary: "DE89370400440532013000"));

        verified.Result.ShouldBe(VerificationResult.NeedsReview);
        verified.Reasons.ShouldBe([ClaimCheck.BeneficiaryAccountFlagged]);
    }

    [Fact]
    public void an_unflagged_supplier_paid_on_a_flagged_account_needs_review()
    {
        Verify(Filing(supplier: "new-front")).Result.ShouldBe(VerificationResult.NeedsReview);
    }

    [Fact]
    public void a_payment_outside_the_cases_active_period_needs_review()
    {
        var filing = Filing(paymentDate: new LocalDate(2011, 3, 10));
        var verified = Verify(filing);

        verified.Result.ShouldBe(VerificationResult.NeedsReview);
        verified.Reasons.ShouldBe([ClaimCheck.PaymentWithinCasePeriod]);
    }

    [Fact]
    public void a_claim_whose_payment_another_claim_holds_is_ineligible()
    {
        var claim = Given(Filed());
        var verified = VerifyClaimEndpoint.Decide(claim, PutianCase, [new ClaimFingerprint("pay:x", ClaimFingerprints.PaymentReference, Guid.NewGuid(), "CL-2011-000009-5")], Verifier, Now)
            .Then<ClaimVerified>();

        verified.Result.ShouldBe(VerificationResult.VerifiedIneligible);
        verified.Reasons.ShouldBe([ClaimCheck.NotDuplicate]);
    }

    [Fact]
    public void verifying_sets_the_status_and_remembers_the_verifier_and_it_can_be_run_again()
    {
        var claim = VerifiedEligible();
        claim.Status.ShouldBe(ClaimStatus.VerifiedEligible);
        claim.Verifiers.ShouldBe([Verifier]);
        claim.Version.ShouldBe(2);

        VerifyClaimEndpoint.Decide(claim, PutianCase, Fingerprints(claim), "second.verifier", Now).Then<ClaimVerified>();
    }

    [Theory]
    [InlineData(ClaimStatus.AwaitingInformation, "awaiting-information")]
    [InlineData(ClaimStatus.Approved, "claim-approved")]
    [InlineData(ClaimStatus.Rejected, "claim-rejected")]
    [InlineData(ClaimStatus.UnderAppeal, "claim-under-appeal")]
    [InlineData(ClaimStatus.Lapsed, "claim-lapsed")]
    [InlineData(ClaimStatus.Withdrawn, "claim-withdrawn")]
    public void a_claim_past_verification_cannot_be_verified(ClaimStatus status, string code)
    {
        var claim = Given(Filed()) with { Status = status };
        VerifyClaimEndpoint.Decide(claim, PutianCase, Fingerprints(claim), Verifier, Now).Refused(code);
    }
}

public sealed class InformationRequestSpecs
{
    private static readonly RequestClaimInformation Ask = new(["Bank transfer receipt", "Order confirmation"]);

    [Fact]
    public void a_request_sets_the_policy_deadline_and_waits_for_the_buyer()
    {
        var claim = VerifiedEligible();
        var requested = RequestClaimInformationEndpoint.Decide(claim, Ask, Handler, Now).Then<ClaimInformationRequested>();

        requested.RequestNumber.ShouldBe(1);
        requested.Deadline.ShouldBe(Now + Duration.FromDays(30));
        var waiting = Claim.Applying(claim, requested);
        waiting.Status.ShouldBe(ClaimStatus.AwaitingInformation);
        waiting.OpenRequest!.Missing.ShouldBe(Ask.Missing);
    }

    [Fact]
    public void only_one_request_is_open_at_a_time()
    {
        var claim = VerifiedEligible();
        var waiting = Claim.Applying(claim, RequestClaimInformationEndpoint.Decide(claim, Ask, Handler, Now).Events.Single());

        RequestClaimInformationEndpoint.Decide(waiting, Ask, Handler, Now).Refused("awaiting-information");
    }

    [Fact]
    public void an_answer_before_the_deadline_resumes_the_claim_where_it_was_and_adds_the_evidence()
    {
        var claim = VerifiedEligible();
        var waiting = Claim.Applying(claim, RequestClaimInformationEndpoint.Decide(claim, Ask, Handler, Now).Events.Single());

        var provided = RecordInformationResponseEndpoint.Decide(waiting, new RecordInformationResponse("Attached.", [new EvidenceDocument("receipt.pdf", new string('b', 64))]),
            Handler, Now + Duration.FromDays(29)).Then<ClaimInformationProvided>();

        var resumed = Claim.Applying(waiting, provided);
        resumed.Status.ShouldBe(ClaimStatus.VerifiedEligible);
        resumed.OpenRequest.ShouldBeNull();
        resumed.Evidence.Count.ShouldBe(2);
    }

    [Fact]
    public void an_answer_after_the_deadline_is_refused()
    {
        var claim = VerifiedEligible();
        var waiting = Claim.Applying(claim, RequestClaimInformationEndpoint.Decide(claim, Ask, Handler, Now).Events.Single());

        RecordInformationResponseEndpoint.Decide(waiting, new RecordInformationResponse("Late."), Handler, Now + Duration.FromDays(31))
            .Refused("information-deadline-passed");
    }

    [Fact]
    public void an_answer_without_an_open_request_is_refused()
    {
        RecordInformationResponseEndpoint.Decide(VerifiedEligible(), new RecordInformationResponse("?"), Handler, Now).Refused("no-open-request");
    }

    [Fact]
    public void the_deadline_lapses_an_unanswered_claim_and_does_nothing_otherwise()
    {
        var claim = VerifiedEligible();
        var requested = (ClaimInformationRequested)RequestClaimInformationEndpoint.Decide(claim, Ask, Handler, Now).Events.Single();
        var waiting = Claim.Applying(claim, requested);
        var due = new ClaimInformationDeadlineReached(claim.Id, 1, requested.Deadline);

        LapseClaimHandler.Decide(waiting, due, requested.Deadline - Duration.FromMinutes(1)).Events.ShouldBeEmpty();
        var lapsed = LapseClaimHandler.Decide(waiting, due, requested.Deadline).Then<ClaimLapsed>();
        Claim.Applying(waiting, lapsed).Status.ShouldBe(ClaimStatus.Lapsed);

        var answered = Claim.Applying(waiting, new ClaimInformationProvided(claim.Id, 1, "ok", [], Handler, Now));
        LapseClaimHandler.Decide(answered, due, requested.Deadline + Duration.FromDays(1)).Events.ShouldBeEmpty();
        LapseClaimHandler.Decide(waiting, due with { RequestNumber = 2 }, requested.Deadline).Events.ShouldBeEmpty();
    }

    [Fact]
    public void a_lapsed_claim_cannot_be_answered_approved_or_withdrawn()
    {
        var claim = VerifiedEligible();
        var requested = (ClaimInformationRequested)RequestClaimInformationEndpoint.Decide(claim, Ask, Handler, Now).Events.Single();
        var lapsed = Claim.Applying(Claim.Applying(claim, requested), new ClaimLapsed(claim.Id, 1, requested.Deadline, requested.Deadline));

        RecordInformationResponseEndpoint.Decide(lapsed, new RecordInformationResponse("now?"), Handler, Now).Refused("claim-lapsed");
        ApproveClaimEndpoint.Decide(lapsed, new ApproveClaim(), null, Approver, Now).Refused("claim-lapsed");
        WithdrawClaimEndpoint.Decide(lapsed, new WithdrawClaim("no"), Handler, Now).Refused("claim-lapsed");
    }
}

public sealed class DecisionSpecs
{
    [Fact]
    public void approving_a_verified_claim_records_the_entitlement_and_how_it_was_computed()
    {
        var approved = ApproveClaimEndpoint.Decide(VerifiedEligible(), new ApproveClaim("ok"), null, Approver, Now).Then<ClaimApproved>();

        approved.Computation.Entitlement.ShouldBe(new Money(980.00m, "USD"));
        approved.Computation.CoverageRatio.ShouldBe(0.70m);
        approved.ApprovedBy.ShouldBe(Approver);
        var claim = Claim.Applying(VerifiedEligible(), approved);
        claim.Status.ShouldBe(ClaimStatus.Approved);
        claim.Entitlement!.Entitlement.Amount.ShouldBe(980.00m);
    }

    [Fact]
    public void approving_a_claim_in_euros_stores_the_rate_used()
    {
        var claim = VerifiedEligible(Filing(1000.00m, "EUR"));

        var approved = ApproveClaimEndpoint.Decide(claim, new ApproveClaim(), Rate("EUR", 1.3945m), Approver, Now).Then<ClaimApproved>();
        approved.Computation.Rate!.Rate.ShouldBe(1.3945m);
        approved.Computation.Entitlement.ShouldBe(new Money(976.15m, "USD"));

        ApproveClaimEndpoint.Decide(claim, new ApproveClaim(), null, Approver, Now).Refused("no-exchange-rate");
    }

    [Fact]
    public void the_verifier_never_decides_the_claim()
    {
        var claim = VerifiedEligible();
        ApproveClaimEndpoint.Decide(claim, new ApproveClaim(), null, Verifier, Now).Refused("four-eyes");
        RejectClaimEndpoint.Decide(claim, new RejectClaim(RejectionReason.Other, "x"), Verifier, Now).Refused("four-eyes");
    }

    [Fact]
    public void a_claim_needing_review_can_be_approved_by_the_approver_reviewing_it()
    {
        var claim = Given(Filed(Filing(beneficiary: "DE89370400440532013000")));
        claim = Claim.Applying(claim, Verified(claim));
        claim.Status.ShouldBe(ClaimStatus.NeedsReview);

        ApproveClaimEndpoint.Decide(claim, new ApproveClaim(), null, Approver, Now).Then<ClaimApproved>();
    }

    [Theory]
    [InlineData(ClaimStatus.Filed, "claim-not-verified")]
    [InlineData(ClaimStatus.VerifiedIneligible, "claim-ineligible")]
    [InlineData(ClaimStatus.AwaitingInformation, "awaiting-information")]
    [InlineData(ClaimStatus.Approved, "claim-approved")]
    [InlineData(ClaimStatus.Rejected, "claim-rejected")]
    [InlineData(ClaimStatus.UnderAppeal, "claim-under-appeal")]
    [InlineData(ClaimStatus.Lapsed, "claim-lapsed")]
    [InlineData(ClaimStatus.Withdrawn, "claim-withdrawn")]
    public void only_a_verified_eligible_or_reviewed_claim_is_approved(ClaimStatus status, string code)
    {
        ApproveClaimEndpoint.Decide(VerifiedEligible() with { Status = status }, new ApproveClaim(), null, Approver, Now).Refused(code);
    }

    [Fact]
    public void an_ineligible_claim_is_rejected_with_a_reason_code()
    {
        var claim = Given(Filed(Filing(platform: "ECPLAZA.net", supplier: "huaxin")));
        claim = Claim.Applying(claim, Verified(claim));

        var rejected = RejectClaimEndpoint.Decide(claim, new RejectClaim(RejectionReason.PlatformNotEligible), Approver, Now).Then<ClaimRejected>();

        rejected.Reason.ShouldBe(RejectionReason.PlatformNotEligible);
        Claim.Applying(claim, rejected).Status.ShouldBe(ClaimStatus.Rejected);
    }

    [Theory]
    [InlineData(ClaimStatus.Filed, "claim-not-verified")]
    [InlineData(ClaimStatus.AwaitingInformation, "awaiting-information")]
    [InlineData(ClaimStatus.Approved, "claim-approved")]
    [InlineData(ClaimStatus.Rejected, "claim-rejected")]
    [InlineData(ClaimStatus.Lapsed, "claim-lapsed")]
    [InlineData(ClaimStatus.Withdrawn, "claim-withdrawn")]
    public void only_a_verified_claim_is_rejected(ClaimStatus status, string code)
    {
        RejectClaimEndpoint.Decide(VerifiedEligible() with { Status = status }, new RejectClaim(RejectionReason.Duplicate), Approver, Now).Refused(code);
    }
}

public sealed class AppealSpecs
{
    [Fact]
    public void a_rejection_is_appealed_within_the_window_and_not_after()
    {
        var rejected = Rejected();

        ClaimGiven.Then<ClaimAppealed>(AppealClaimEndpoint.Decide(rejected, new AppealClaim("The supplier was flagged later."), Handler, Now + Duration.FromDays(60)));
        AppealClaimEndpoint.Decide(rejected, new AppealClaim("Too late"), Handler, Now + Duration.FromDays(60) + Duration.FromSeconds(1))
            .Refused("appeal-window-closed");
    }

    [Fact]
    public void only_a_rejected_claim_is_appealed_and_only_once()
    {
        AppealClaimEndpoint.Decide(VerifiedEligible(), new AppealClaim("?"), Handler, Now).Refused("illegal-transition");
        var appealed = Claim.Applying(Rejected(), new ClaimAppealed(Guid.Empty, "g", Handler, Now));
        var dismissed = Claim.Applying(appealed, new ClaimAppealDismissed(Guid.Empty, null, OtherApprover, Now));

        dismissed.Status.ShouldBe(ClaimStatus.Rejected);
        AppealClaimEndpoint.Decide(dismissed, new AppealClaim("again"), Handler, Now).Refused("already-appealed");
    }

    [Fact]
    public void granting_an_appeal_approves_the_claim_with_its_entitlement()
    {
        var appealed = Claim.Applying(Rejected(), new ClaimAppealed(Guid.Empty, "g", Handler, Now));

        var granted = DecideAppealEndpoint.Decide(appealed, new DecideAppeal(AppealOutcome.Grant), null, OtherApprover, Now).Then<ClaimAppealGranted>();

        granted.Computation.Entitlement.ShouldBe(new Money(980.00m, "USD"));
        var claim = Claim.Applying(appealed, granted);
        claim.Status.ShouldBe(ClaimStatus.Approved);
        claim.Entitlement.ShouldNotBeNull();
    }

    [Fact]
    public void dismissing_an_appeal_leaves_the_claim_rejected()
    {
        var appealed = Claim.Applying(Rejected(), new ClaimAppealed(Guid.Empty, "g", Handler, Now));

        var dismissed = DecideAppealEndpoint.Decide(appealed, new DecideAppeal(AppealOutcome.Dismiss, "no new facts"), null, OtherApprover, Now).Then<ClaimAppealDismissed>();

        Claim.Applying(appealed, dismissed).Status.ShouldBe(ClaimStatus.Rejected);
    }

    [Fact]
    public void neither_the_rejecting_approver_nor_a_verifier_decides_the_appeal()
    {
        var appealed = Claim.Applying(Rejected(), new ClaimAppealed(Guid.Empty, "g", Handler, Now));

        DecideAppealEndpoint.Decide(appealed, new DecideAppeal(AppealOutcome.Grant), null, Approver, Now).Refused("four-eyes");
        DecideAppealEndpoint.Decide(appealed, new DecideAppeal(AppealOutcome.Grant), null, Verifier, Now).Refused("four-eyes");
    }

    [Fact]
    public void an_appeal_decision_needs_an_appeal()
    {
        DecideAppealEndpoint.Decide(Rejected(), new DecideAppeal(AppealOutcome.Grant), null, OtherApprover, Now).Refused("claim-rejected");
    }

    [Fact]
    public void granting_an_appeal_of_a_foreign_currency_claim_without_a_rate_is_refused()
    {
        var appealed = Claim.Applying(Rejected(VerifiedEligible(Filing(100_000m, "JPY"))), new ClaimAppealed(Guid.Empty, "g", Handler, Now));

        DecideAppealEndpoint.Decide(appealed, new DecideAppeal(AppealOutcome.Grant), null, OtherApprover, Now).Refused("no-exchange-rate");
    }
}

public sealed class WithdrawalSpecs
{
    [Theory]
    [InlineData(ClaimStatus.Filed)]
    [InlineData(ClaimStatus.VerifiedEligible)]
    [InlineData(ClaimStatus.VerifiedIneligible)]
    [InlineData(ClaimStatus.NeedsReview)]
    [InlineData(ClaimStatus.AwaitingInformation)]
    [InlineData(ClaimStatus.UnderAppeal)]
    public void an_open_claim_is_withdrawn(ClaimStatus status)
    {
        var claim = Given(Filed()) with { Status = status };
        var withdrawn = WithdrawClaimEndpoint.Decide(claim, new WithdrawClaim("Buyer was refunded by the bank."), Handler, Now).Then<ClaimWithdrawn>();
        Claim.Applying(claim, withdrawn).Status.ShouldBe(ClaimStatus.Withdrawn);
    }

    [Theory]
    [InlineData(ClaimStatus.Approved, "claim-approved")]
    [InlineData(ClaimStatus.Rejected, "claim-rejected")]
    [InlineData(ClaimStatus.Lapsed, "claim-lapsed")]
    [InlineData(ClaimStatus.Withdrawn, "claim-withdrawn")]
    public void a_closed_claim_is_not_withdrawn(ClaimStatus status, string code)
    {
        WithdrawClaimEndpoint.Decide(Given(Filed()) with { Status = status }, new WithdrawClaim("x"), Handler, Now).Refused(code);
    }
}

public sealed class ErasureSpecs
{
    [Fact]
    public void a_buyers_data_is_erased_once_whatever_the_claims_state_and_the_entitlement_stays()
    {
        var approved = Claim.Applying(VerifiedEligible(), ApproveClaimEndpoint.Decide(VerifiedEligible(), new ApproveClaim(), null, Approver, Now).Events.Single());

        var erased = Claim.Applying(approved, EraseBuyerDataEndpoint.Decide(approved, Handler, Now).Then<ClaimBuyerDataErased>());

        erased.BuyerDataErased.ShouldBeTrue();
        erased.Status.ShouldBe(ClaimStatus.Approved);
        erased.Entitlement.ShouldBe(approved.Entitlement);
        EraseBuyerDataEndpoint.Decide(erased, Handler, Now).Refused("already-erased");
    }
}
