using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using NodaTime;

namespace CompensationLedger.Specs.Funds;

/// <summary>Given a fund's events, when finance acts, then these events (or this refusal).</summary>
public sealed class FundSpecs
{
    private static readonly Instant Now = Instant.FromUtc(2011, 6, 1, 9, 0);
    private static readonly Guid FundId = Guid.Parse("0195a2c0-0000-7000-8000-00000000f00d");
    private static readonly Guid CaseId = Guid.Parse("0195a2c0-0000-7000-8000-000000000042");
    private static readonly Guid General = Guid.Parse("0195a2c0-0000-7000-8000-0000000000a1");
    private static readonly Guid Xinda = Guid.Parse("0195a2c0-0000-7000-8000-0000000000b1");
    private static readonly Guid Round1 = Guid.Parse("0195a2c0-0000-7000-8000-0000000000c1");
    private static readonly Guid Round2 = Guid.Parse("0195a2c0-0000-7000-8000-0000000000c2");

    private static Guid Claim(int n) => Guid.Parse($"0195a2c0-0000-7000-8000-{n:D12}");

    private static string Ref(int n) => $"CL-2011-{n:D6}";

    private static Money Usd(decimal amount) => Money.Of(amount, "USD");

    private static PolicyVersion PolicyV1(string currency = "USD", decimal minimum = 0m, bool backs = false) =>
        new(1, new LocalDate(2011, 2, 21), 0.70m, Money.Of(currency == "JPY" ? 100_000m : 1_000m, currency), null, Money.Of(minimum, currency), 90, 30, 60, backs);

    private static FundEstablished Established(string currency = "USD", decimal minimum = 0m, bool backs = false) =>
        new(FundId, "Fair Play Fund", "Alibaba.com", currency, ["Alibaba.com"], PolicyV1(currency, minimum, backs), "fiona", Now);

    private static PoolOpened GeneralPool => new(FundId, General, PoolKind.General, "General pool", null, "fiona", Now);

    private static PoolOpened XindaPool => new(FundId, Xinda, PoolKind.Perpetrator, "Xinda forfeited fees",
        new PerpetratorAccount(CaseId, "Alibaba.com", "cnxinda"), "fiona", Now);

    private static PoolDeposited Deposit(Guid pool, decimal amount, string reference, string currency = "USD") =>
        new(FundId, pool, Money.Of(amount, currency), reference, new LocalDate(2011, 5, 30), "fiona", Now);

    private static EntitlementRecorded Entitled(int n, decimal amount, string supplier = "other", string currency = "USD", string? buyer = null) =>
        new(FundId, Claim(n), Ref(n), CaseId, "Alibaba.com", supplier, "GB", Money.Of(amount, currency), "claims", Now, buyer ?? $"buyer:{n}");

    private static Fund Given(params object[] events) => Fund.Replay(events);

    private static Decision Prepare(Fund fund, Guid roundId, string by = "fiona") => PrepareRoundEndpoint.Decide(fund, roundId, by, Now);

    private static Decision Release(Fund fund, Guid roundId, string by = "frank")
    {
        var n = 0;
        return ReleaseRoundEndpoint.Decide(fund, roundId, () => Guid.Parse($"0195a2c0-0000-7000-8000-0000000d{++n:D4}"), by, Now);
    }

    private static Fund Then(Fund fund, Decision decision)
    {
        decision.Refusal.ShouldBeNull();
        return decision.Events.Aggregate(fund, (state, e) => Fund.Fold(state, e)!);
    }

    [Fact]
    public void enough_money_pays_every_claim_in_full()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 5_000m, "DEP-1"), Entitled(1, 980m), Entitled(2, 1_000m));

        Prepare(fund, Round1).Events.ShouldBeFacts(new RoundPrepared(FundId, Round1, 1, 1,
            [new RoundAllocation(Claim(1), Ref(1), General, Usd(980m)), new RoundAllocation(Claim(2), Ref(2), General, Usd(1_000m))], [], "fiona", Now));
    }

    [Fact]
    public void a_thousand_dollars_over_three_equal_entitlements_is_333_34_333_33_333_33()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 1_000m, "DEP-1"), Entitled(3, 1_000m), Entitled(1, 1_000m), Entitled(2, 1_000m));

        var expected = new RoundPrepared(FundId, Round1, 1, 1,
        [
            new RoundAllocation(Claim(1), Ref(1), General, Usd(333.34m)),
            new RoundAllocation(Claim(2), Ref(2), General, Usd(333.33m)),
            new RoundAllocation(Claim(3), Ref(3), General, Usd(333.33m)),
        ], [], "fiona", Now);
        for (var run = 0; run < 5; run++) Prepare(fund, Round1).Events.ShouldBeFacts(expected);

        var prepared = Then(fund, Prepare(fund, Round1));
        prepared.Pools[General].Available.ShouldBe(0m);
        prepared.Pools[General].Allocated.ShouldBe(1_000m);
    }

    [Fact]
    public void an_allocation_under_the_minimum_payment_is_carried_and_the_money_stays_available()
    {
        var fund = Given(Established(minimum: 25m), GeneralPool, Deposit(General, 505m, "DEP-1"), Entitled(1, 10_000m), Entitled(2, 100m));

        var decision = Prepare(fund, Round1);

        // exact shares: 500.00 and 5.00; 5.00 is under 25.00 and does not pay claim 2 off.
        decision.Events.ShouldBeFacts(new RoundPrepared(FundId, Round1, 1, 1,
            [new RoundAllocation(Claim(1), Ref(1), General, Usd(500m))], [new CarriedAllocation(Claim(2), Ref(2), Usd(5m))], "fiona", Now));
        var after = Then(fund, decision);
        after.Pools[General].Available.ShouldBe(5m);
        after.Entitlements[Claim(2)].StillOwed.ShouldBe(100m);
    }

    [Fact]
    public void a_later_round_tops_up_what_is_still_owed()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 1_000m, "DEP-1"), Entitled(1, 1_000m), Entitled(2, 1_000m));
        fund = Then(fund, Prepare(fund, Round1));
        fund = Then(fund, Release(fund, Round1));
        fund.Entitlements[Claim(1)].StillOwed.ShouldBe(500m);
        fund = Then(fund, DepositToPoolEndpoint.Decide(fund, General, new DepositToPool(Usd(2_000m), "DEP-2", new LocalDate(2011, 7, 1)), "fiona", Now));

        Prepare(fund, Round2).Events.ShouldBeFacts(new RoundPrepared(FundId, Round2, 2, 1,
            [new RoundAllocation(Claim(1), Ref(1), General, Usd(500m)), new RoundAllocation(Claim(2), Ref(2), General, Usd(500m))], [], "fiona", Now));
    }

    [Fact]
    public void a_round_is_released_by_another_finance_user_as_one_payout_per_buyer()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 1_000m, "DEP-1"), Entitled(1, 600m), Entitled(2, 400m));
        fund = Then(fund, Prepare(fund, Round1, by: "fiona"));

        var refused = Release(fund, Round1, by: "FIONA");
        refused.Refusal!.Code.ShouldBe("four-eyes");
        refused.Events.ShouldBeEmpty();

        var released = Release(fund, Round1, by: "frank");
        var payouts = released.Events.ShouldHaveSingleItem().ShouldBeOfType<RoundReleased>().Payouts;
        payouts.Select(p => (p.ClaimLines!.Single().ClaimId, p.Amount)).ShouldBe([(Claim(1), Usd(600m)), (Claim(2), Usd(400m))]);
        payouts.Select(p => p.BuyerKey).ShouldBe(["buyer:1", "buyer:2"]);
        payouts.Select(p => p.Reference).Distinct().Count().ShouldBe(2);
        payouts[0].Reference.ShouldBe($"PO-{ReleaseRoundEndpoint.FundCode(FundId)}-001-00001");

        var after = Then(fund, released);
        after.Pools[General].InTransit.ShouldBe(1_000m);
        Release(after, Round1).Refusal!.Code.ShouldBe("round-not-prepared");
    }

    [Fact]
    public void a_returned_payout_goes_back_to_its_pool_and_is_reissued_to_corrected_bank_details()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 1_000m, "DEP-1"), Entitled(1, 600m));
        fund = Then(fund, Prepare(fund, Round1));
        fund = Then(fund, Release(fund, Round1));
        var payout = fund.Payouts.Values.Single();

        fund = Then(fund, ReturnPayoutEndpoint.Decide(fund, payout.Id, new RecordPayoutReturn("account closed"), "fiona", Now));
        fund.Pools[General].Available.ShouldBe(1_000m);
        fund.Pools[General].Returned.ShouldBe(600m);
        fund.Entitlements[Claim(1)].StillOwed.ShouldBe(600m);

        var reissueId = Guid.Parse("0195a2c0-0000-7000-8000-0000000e0001");
        var prepared = ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("Ann Buyer", "GB29 NWBK 6016 1331 9268 19", "NatWest")), "fiona", Now);
        prepared.Events.ShouldBeFacts(new PayoutReissuePrepared(FundId, payout.Id, new BankDetails("Ann Buyer", "GB29NWBK60161331926819", "NatWest"), "fiona", Now));
        fund = Then(fund, prepared);
        fund.Pools[General].Available.ShouldBe(1_000m);

        var reissue = ApproveReissueEndpoint.Decide(fund, payout.Id, reissueId, "frank", Now);
        reissue.Events.ShouldBeFacts(new PayoutReissued(FundId, payout.Id, reissueId, payout.Reference + "-R1", null, null,
            [new PoolAmount(General, Usd(600m))], Usd(600m), new BankDetails("Ann Buyer", "GB29NWBK60161331926819", "NatWest"), "frank", Now,
            [new PayoutLine(Claim(1), Ref(1), General, Usd(600m))], "buyer:1", "fiona"));

        fund = Then(fund, reissue);
        fund.Pools[General].InTransit.ShouldBe(600m);
        fund.Pools[General].Available.ShouldBe(400m);
        ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("A", "123456")), "fiona", Now)
            .Refusal!.Code.ShouldBe("payout-already-reissued");

        fund = Then(fund, SettlePayoutEndpoint.Decide(fund, reissueId, new RecordPayoutSettlement("BANK-1"), "fiona", Now));
        fund.Pools[General].Settled.ShouldBe(600m);
        fund.Entitlements[Claim(1)].Settled.ShouldBe(600m);
    }

    [Fact]
    public void a_prepared_reissue_with_wrong_details_is_withdrawn_and_prepared_again_then_approved_by_a_second_person()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 1_000m, "DEP-1"), Entitled(1, 600m));
        fund = Then(fund, Prepare(fund, Round1));
        fund = Then(fund, Release(fund, Round1));
        var payout = fund.Payouts.Values.Single();
        WithdrawReissueEndpoint.Decide(fund, payout.Id, new WithdrawReissue("nothing prepared"), "fiona", Now).Refusal!.Code.ShouldBe("reissue-not-prepared");
        fund = Then(fund, ReturnPayoutEndpoint.Decide(fund, payout.Id, new RecordPayoutReturn("account closed"), "fiona", Now));
        fund = Then(fund, ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("Ann Buyer", "11111111")), "fiona", Now));

        var withdrawn = WithdrawReissueEndpoint.Decide(fund, payout.Id, new WithdrawReissue(" the buyer sent the wrong account "), "frank", Now);

        withdrawn.Events.ShouldBeFacts(new PayoutReissueWithdrawn(FundId, payout.Id, "the buyer sent the wrong account", "frank", Now));
        fund = Then(fund, withdrawn);
        fund.Payouts[payout.Id].PendingReissue.ShouldBeNull();
        fund.Pools[General].Available.ShouldBe(1_000m);
        ApproveReissueEndpoint.Decide(fund, payout.Id, Guid.NewGuid(), "frank", Now).Refusal!.Code.ShouldBe("reissue-not-prepared");

        fund = Then(fund, ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("Ann Buyer", "22222222")), "fiona", Now));
        ApproveReissueEndpoint.Decide(fund, payout.Id, Guid.NewGuid(), "fiona", Now).Refusal!.Code.ShouldBe("four-eyes");
        fund = Then(fund, ApproveReissueEndpoint.Decide(fund, payout.Id, Guid.NewGuid(), "frank", Now));
        fund.Payouts.Values.Single(p => p.ReissueOf == payout.Id).BankDetails!.AccountNumber.ShouldBe("22222222");
    }

    [Fact]
    public void a_returned_payout_whose_claim_was_topped_up_meanwhile_is_not_reissued()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 1_000m, "DEP-1"), Entitled(1, 600m));
        fund = Then(fund, Prepare(fund, Round1));
        fund = Then(fund, Release(fund, Round1));
        var payout = fund.Payouts.Values.Single();
        fund = Then(fund, ReturnPayoutEndpoint.Decide(fund, payout.Id, new RecordPayoutReturn("bounced"), "fiona", Now));
        fund = Then(fund, Prepare(fund, Round2));

        ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("A", "123456")), "fiona", Now)
            .Refusal!.Code.ShouldBe("claim-not-owed");
    }

    [Fact]
    public void when_a_perpetrator_pool_is_exhausted_the_general_pool_pays_the_rest_if_the_policy_allows()
    {
        object[] history = [GeneralPool, XindaPool, Deposit(Xinda, 300m, "FEES-XINDA"), Deposit(General, 10_000m, "SPONSOR-1"),
            Entitled(1, 1_000m, supplier: "cnxinda"), Entitled(2, 500m, supplier: "cnxinda"), Entitled(3, 700m)];

        var strict = Prepare(Given([Established(backs: false), .. history]), Round1);
        strict.Events.ShouldBeFacts(new RoundPrepared(FundId, Round1, 1, 1,
        [
            new RoundAllocation(Claim(1), Ref(1), Xinda, Usd(200m)),
            new RoundAllocation(Claim(2), Ref(2), Xinda, Usd(100m)),
            new RoundAllocation(Claim(3), Ref(3), General, Usd(700m)),
        ], [], "fiona", Now));

        var backed = Prepare(Given([Established(backs: true), .. history]), Round1);
        backed.Events.ShouldBeFacts(new RoundPrepared(FundId, Round1, 1, 1,
        [
            new RoundAllocation(Claim(1), Ref(1), Xinda, Usd(200m)),
            new RoundAllocation(Claim(1), Ref(1), General, Usd(800m)),
            new RoundAllocation(Claim(2), Ref(2), Xinda, Usd(100m)),
            new RoundAllocation(Claim(2), Ref(2), General, Usd(400m)),
            new RoundAllocation(Claim(3), Ref(3), General, Usd(700m)),
        ], [], "fiona", Now));

        var fund = Then(Given([Established(backs: true), .. history]), backed);
        fund = Then(fund, Release(fund, Round1));
        var payout = fund.Payouts.Values.Single(p => p.Pays(Claim(1)));
        payout.Amount.ShouldBe(Usd(1_000m));
        payout.Lines.ShouldBe([new PoolAmount(Xinda, Usd(200m)), new PoolAmount(General, Usd(800m))]);
        fund.Pools[Xinda].Available.ShouldBe(0m);
    }

    [Fact]
    public void a_yen_fund_allocates_whole_yen()
    {
        var fund = Given(Established("JPY"), GeneralPool, Deposit(General, 100_000m, "DEP-JPY", "JPY"),
            Entitled(1, 60_000m, currency: "JPY"), Entitled(2, 60_000m, currency: "JPY"), Entitled(3, 60_000m, currency: "JPY"));

        Prepare(fund, Round1).Events.ShouldBeFacts(new RoundPrepared(FundId, Round1, 1, 1,
        [
            new RoundAllocation(Claim(1), Ref(1), General, Money.Of(33_334m, "JPY")),
            new RoundAllocation(Claim(2), Ref(2), General, Money.Of(33_333m, "JPY")),
            new RoundAllocation(Claim(3), Ref(3), General, Money.Of(33_333m, "JPY")),
        ], [], "fiona", Now));
    }

    [Fact]
    public void the_same_bank_reference_twice_is_one_deposit_and_with_another_amount_a_conflict()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 1_000m, "DEP-1"));

        DepositToPoolEndpoint.Decide(fund, General, new DepositToPool(Usd(1_000m), " DEP-1 ", new LocalDate(2011, 5, 30)), "fiona", Now).Events.ShouldBeEmpty();
        DepositToPoolEndpoint.Decide(fund, General, new DepositToPool(Usd(999m), "DEP-1", new LocalDate(2011, 5, 30)), "fiona", Now)
            .Refusal!.Code.ShouldBe("bank-reference-used");
    }

    [Fact]
    public void nothing_to_allocate_is_refused()
    {
        Prepare(Given(Established(), GeneralPool, Entitled(1, 100m)), Round1).Refusal!.Code.ShouldBe("nothing-to-allocate");
        Prepare(Given(Established(), GeneralPool, Deposit(General, 100m, "D")), Round1).Refusal!.Code.ShouldBe("nothing-owed");
    }

    [Fact]
    public void a_prepared_round_sets_its_money_aside_so_a_second_round_cannot_promise_it_again()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 1_000m, "DEP-1"), Entitled(1, 1_000m));
        fund = Then(fund, Prepare(fund, Round1));

        Prepare(fund, Round2).Refusal!.Code.ShouldBe("nothing-owed");

        fund = Then(fund, CancelRoundEndpoint.Decide(fund, Round1, new CancelRound("wrong pool"), "fiona", Now));
        fund.Pools[General].Available.ShouldBe(1_000m);
        Prepare(fund, Round2).Refusal.ShouldBeNull();
    }

    [Fact]
    public void the_policy_in_force_is_the_latest_version_effective_on_or_before_the_date()
    {
        var v1 = PolicyV1();
        var v2 = v1 with { Version = 2, EffectiveFrom = new LocalDate(2011, 7, 1), MinimumPayment = Usd(10m) };
        var v3 = v1 with { Version = 3, EffectiveFrom = new LocalDate(2011, 7, 1), MinimumPayment = Usd(20m) };

        Policy.InForce([v1, v2, v3], Instant.FromUtc(2011, 2, 20, 23, 59)).ShouldBeNull();
        Policy.InForce([v1, v2, v3], Instant.FromUtc(2011, 6, 30, 23, 59))!.Version.ShouldBe(1);
        Policy.InForce([v3, v2, v1], Instant.FromUtc(2011, 7, 1, 0, 0))!.Version.ShouldBe(3);
    }

    [Fact]
    public void a_new_policy_version_cannot_take_effect_in_the_past()
    {
        var fund = Given(Established());
        var terms = new PolicyTerms(new LocalDate(2011, 5, 31), 0.5m, Usd(1_000m), Usd(0m), 90, 30, 60);

        AddPolicyVersionEndpoint.Decide(fund, new AddPolicyVersion(terms), "fiona", Now).Refusal!.Code.ShouldBe("policy-in-the-past");
        AddPolicyVersionEndpoint.Decide(fund, new AddPolicyVersion(terms with { EffectiveFrom = new LocalDate(2011, 6, 1) }), "fiona", Now)
            .Events.ShouldBeFacts(new PolicyVersionAdded(FundId, (terms with { EffectiveFrom = new LocalDate(2011, 6, 1) }).ToVersion(2), "fiona", Now));
    }

    [Fact]
    public void every_event_posts_balanced_entries()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 1_000m, "DEP-1"), Entitled(1, 600m));
        var prepared = Prepare(fund, Round1);

        var postings = Books.PostingsFor(prepared.Events[0]);
        postings.ShouldBe([
            new Posting(Books.ClaimsAllocated, General, Usd(600m), Usd(0m)),
            new Posting(Books.PoolCash, General, Usd(0m), Usd(600m)),
        ]);
    }
}
