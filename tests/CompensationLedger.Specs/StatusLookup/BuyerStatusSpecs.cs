using CompensationLedger.Claims;
using CompensationLedger.Specs.Claims;
using CompensationLedger.StatusLookup;
using NodaTime;
using static CompensationLedger.Specs.Claims.ClaimGiven;

namespace CompensationLedger.Specs.StatusLookup;

/// <summary>Given a claim's events, the buyer sees this status, in these words, and nothing internal.</summary>
public sealed class BuyerStatusSpecs
{
    private static BuyerClaimStatus StatusAfter(params object[] events) => BuyerStatus.From(Claim.Fold(events), events);

    [Fact]
    public void a_filed_claim_is_received_and_masks_the_account_paid()
    {
        var filed = Filed();

        var status = StatusAfter(filed);

        status.Status.ShouldBe(ClaimStatus.Filed);
        status.Headline.ShouldBe("Received");
        status.PaidToAccount.ShouldBe("••••7919");
        status.Timeline.Select(t => t.Title).ShouldBe(["Claim received"]);
        status.Paid.ShouldBe(Money.Zero("USD"));
    }

    [Fact]
    public void an_approved_claim_explains_the_cap()
    {
        var filed = Filed(Filing(amount: 2000.00m));
        var claim = Claim.Fold([filed]);
        var verified = Verified(claim);
        var approved = ApproveClaimEndpoint.Decide(Claim.Applying(claim, verified), new ApproveClaim("internal note"), null, Approver, Now).Events.Single();

        var status = StatusAfter(filed, verified, approved);

        status.Entitlement!.Amount.ShouldBe(Money.Of(1000.00m, "USD"));
        status.Entitlement.HowComputed.ShouldBe(
            "You paid 2,000.00 USD. The fund pays 70% of a loss, at most 1,000.00 USD per claim, so you are owed 1,000.00 USD.");
        string.Join(" ", status.Timeline.Select(t => t.Detail)).ShouldNotContain("internal note");
    }

    [Fact]
    public void a_request_for_information_names_what_is_missing_and_the_deadline()
    {
        var filed = Filed();
        var deadline = Now + Duration.FromDays(30);
        var requested = new ClaimInformationRequested(filed.ClaimId, 1, ["Invoice"], deadline, Handler, Now);

        var status = StatusAfter(filed, requested);

        status.Missing!.Items.ShouldBe(["Invoice"]);
        status.Missing.DeadlineText.ShouldBe("2011-05-11 08:00 UTC");
        status.NextStep.ShouldBe("Send it before 2011-05-11 08:00 UTC, or the claim will close.");
    }

    [Fact]
    public void no_staff_name_appears_anywhere_in_what_the_buyer_sees()
    {
        var filed = Filed();
        var claim = Claim.Fold([filed]);
        var verified = Verified(claim);
        var rejected = new ClaimRejected(filed.ClaimId, RejectionReason.InsufficientEvidence, "staged screenshots?", Approver, Now);

        var status = StatusAfter(filed, verified, rejected);

        var everything = System.Text.Json.JsonSerializer.Serialize(status);
        foreach (var staff in new[] { Handler, Verifier, Approver, "staged screenshots?" }) everything.ShouldNotContain(staff);
        status.Explanation.ShouldBe("The evidence we have is not enough to show the loss.");
    }

    [Fact]
    public void an_erasure_is_not_part_of_the_buyers_story()
    {
        var filed = Filed();
        StatusAfter(filed, new ClaimBuyerDataErased(filed.ClaimId, Handler, Now)).Timeline.Count.ShouldBe(1);
    }

    [Fact]
    public void every_status_has_words_for_the_buyer()
    {
        foreach (var status in Enum.GetValues<ClaimStatus>())
        {
            var claim = Claim.Fold([Filed()]) with { Status = status };
            var view = BuyerStatus.From(claim, []);
            view.Explanation.ShouldNotBeNullOrWhiteSpace($"{status} needs an explanation in plain words");
            view.NextStep.ShouldNotBeNullOrWhiteSpace($"{status} needs a next step");
        }
    }
}

public sealed class LookupGuardSpecs
{
    private static readonly Instant Start = Instant.FromUtc(2011, 4, 11, 8, 0);

    [Fact]
    public void a_client_gets_its_budget_per_minute_then_waits()
    {
        var clock = new NodaTime.Testing.FakeClock(Start);
        var guard = new LookupGuard(clock, new LookupLimits { PerClientPerMinute = 3 });

        for (var i = 0; i < 3; i++) guard.Admit("10.0.0.1", $"CL-{i}").ShouldBeNull();
        guard.Admit("10.0.0.1", "CL-9").ShouldBe(Duration.FromMinutes(1));
        guard.Admit("10.0.0.2", "CL-9").ShouldBeNull();

        clock.Advance(Duration.FromSeconds(61));
        guard.Admit("10.0.0.1", "CL-9").ShouldBeNull();
    }

    [Fact]
    public void failures_on_a_reference_double_the_wait_up_to_the_maximum_and_are_forgotten_later()
    {
        var clock = new NodaTime.Testing.FakeClock(Start);
        var guard = new LookupGuard(clock, new LookupLimits { PerClientPerMinute = 1000, FreeFailuresPerReference = 2, FirstBackoffSeconds = 30, MaxBackoffMinutes = 2 });

        guard.Failed("CL-1");
        guard.Admit("a", "CL-1").ShouldBeNull();
        guard.Failed("cl-1 ");
        guard.Admit("a", "CL-1").ShouldBe(Duration.FromSeconds(30));
        guard.Failed("CL-1");
        guard.Admit("a", "CL-1").ShouldBe(Duration.FromSeconds(60));
        guard.Failed("CL-1");
        guard.Admit("a", "CL-1").ShouldBe(Duration.FromMinutes(2));
        guard.Failed("CL-1");
        guard.Admit("a", "CL-1").ShouldBe(Duration.FromMinutes(2));

        clock.Advance(Duration.FromMinutes(2) + Duration.FromSeconds(1));
        guard.Admit("a", "CL-1").ShouldBeNull();
    }

    [Fact]
    public void a_success_clears_the_references_failures()
    {
        var guard = new LookupGuard(new NodaTime.Testing.FakeClock(Start), new LookupLimits { FreeFailuresPerReference = 1 });
        guard.Failed("CL-1");
        guard.Succeeded("CL-1");
        guard.Admit("a", "CL-1").ShouldBeNull();
    }
}
