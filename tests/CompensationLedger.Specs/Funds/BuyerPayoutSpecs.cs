using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using NodaTime;

namespace CompensationLedger.Specs.Funds;

/// <summary>One payout per buyer per round, the cap per buyer, and four eyes on reissues: given a fund's events, when finance acts, then...</summary>
public sealed class BuyerPayoutSpecs
{
    private static readonly Instant Now = Instant.FromUtc(2011, 6, 1, 9, 0);
    private static readonly Guid FundId = Guid.Parse("0195a2c0-0000-7000-8000-00000000f00d");
    private static readonly Guid CaseId = Guid.Parse("0195a2c0-0000-7000-8000-000000000042");
    private static readonly Guid General = Guid.Parse("0195a2c0-0000-7000-8000-0000000000a1");
    private static readonly Guid Xinda = Guid.Parse("0195a2c0-0000-7000-8000-0000000000b1");
    private static readonly Guid Round1 = Guid.Parse("0195a2c0-0000-7000-8000-0000000000c1");
    private static readonly Guid Round2 = Guid.Parse("0195a2c0-0000-7000-8000-0000000000c2");
    private const string Ann = "buyer:ann";
    private const string Bob = "buyer:bob";

    private static Guid Claim(int n) => Guid.Parse($"0195a2c0-0000-7000-8000-{n:D12}");

    private static string Ref(int n) => $"CL-2011-{n:D6}";

    private static Money Usd(decimal amount) => Money.Of(amount, "USD");

    private static FundEstablished Established(decimal? capPerBuyer = null, bool backs = true) =>
        new(FundId, "Fair Play Fund", "Alibaba.com", "USD", ["Alibaba.com"],
            new PolicyVersion(1, new LocalDate(2011, 2, 21), 0.70m, Usd(1_000m), capPerBuyer is { } cap ? Usd(cap) : null, Usd(0m), 90, 30, 60, backs), "fiona", Now);

    private static PoolOpened GeneralPool => new(FundId, General, PoolKind.General, "General pool", null, "fiona", Now);

    private static PoolOpened XindaPool => new(FundId, Xinda, PoolKind.Perpetrator, "Xinda forfeited fees", new PerpetratorAccount(CaseId, "Alibaba.com", "cnxinda"), "fiona", Now);

    private static PoolDeposited Deposit(Guid pool, decimal amount, string reference) => new(FundId, pool, Usd(amount), reference, new LocalDate(2011, 5, 30), "fiona", Now);

    private static EntitlementRecorded Entitled(int n, decimal amount, string? buyer, string supplier = "other") =>
        new(FundId, Claim(n), Ref(n), CaseId, "Alibaba.com", supplier, "GB", Usd(amount), "claims", Now, buyer);

    private static Fund Given(params object[] events) => Fund.Replay(events);

    private static Fund Then(Fund fund, Decision decision)
    {
        decision.Refusal.ShouldBeNull();
        return decision.Events.Aggregate(fund, (state, e) => Fund.Fold(state, e)!);
    }

    private static Decision Release(Fund fund, Guid roundId)
    {
        var n = 0;
        return ReleaseRoundEndpoint.Decide(fund, roundId, () => Guid.Parse($"0195a2c0-0000-7000-8000-00000{(roundId == Round1 ? 1 : 2)}0d{++n:D4}"), "frank", Now);
    }

    private static Fund Round(Fund fund, Guid roundId)
    {
        fund = Then(fund, PrepareRoundEndpoint.Decide(fund, roundId, "fiona", Now));
        return Then(fund, Release(fund, roundId));
    }

    [Fact]
    public void a_buyer_with_two_claims_gets_one_payout_with_a_line_per_claim_and_pool()
    {
        var fund = Given(Established(), GeneralPool, XindaPool, Deposit(Xinda, 300m, "FEES"), Deposit(General, 5_000m, "SPONSOR"),
            Entitled(1, 1_000m, Ann, supplier: "cnxinda"), Entitled(2, 400m, Bob), Entitled(3, 500m, Ann));
        fund = Then(fund, PrepareRoundEndpoint.Decide(fund, Round1, "fiona", Now));

        var released = Release(fund, Round1).Events.ShouldHaveSingleItem().ShouldBeOfType<RoundReleased>();

        released.Payouts.Count.ShouldBe(2);
        var code = ReleaseRoundEndpoint.FundCode(FundId);
        released.Payouts[0].ShouldBeFact(new PayoutIssued(Guid.Parse("0195a2c0-0000-7000-8000-0000010d0001"), $"PO-{code}-001-00001", null, null,
            [new PoolAmount(Xinda, Usd(300m)), new PoolAmount(General, Usd(1_200m))], Usd(1_500m), Ann,
            [
                new PayoutLine(Claim(1), Ref(1), Xinda, Usd(300m)),
                new PayoutLine(Claim(1), Ref(1), General, Usd(700m)),
                new PayoutLine(Claim(3), Ref(3), General, Usd(500m)),
            ]));
        released.Payouts[1].ShouldBeFact(new PayoutIssued(Guid.Parse("0195a2c0-0000-7000-8000-0000010d0002"), $"PO-{code}-001-00002", null, null,
            [new PoolAmount(General, Usd(400m))], Usd(400m), Bob, [new PayoutLine(Claim(2), Ref(2), General, Usd(400m))]));
    }

    [Fact]
    public void a_returned_buyer_payout_gives_each_pool_and_claim_its_part_back_and_its_settled_reissue_pays_each_claim_its_part()
    {
        var fund = Round(Given(Established(), GeneralPool, XindaPool, Deposit(Xinda, 300m, "FEES"), Deposit(General, 5_000m, "SPONSOR"),
            Entitled(1, 1_000m, Ann, supplier: "cnxinda"), Entitled(3, 500m, Ann)), Round1);
        var payout = fund.Payouts.Values.Single();

        fund = Then(fund, ReturnPayoutEndpoint.Decide(fund, payout.Id, new RecordPayoutReturn("account closed"), "fiona", Now));
        fund.Pools[Xinda].Available.ShouldBe(300m);
        fund.Pools[General].Available.ShouldBe(5_000m);
        fund.Entitlements[Claim(1)].StillOwed.ShouldBe(1_000m);
        fund.Entitlements[Claim(3)].StillOwed.ShouldBe(500m);

        fund = Then(fund, ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("Ann Buyer", "GB29NWBK60161331926819")), "fiona", Now));
        var reissueId = Guid.Parse("0195a2c0-0000-7000-8000-0000000e0001");
        fund = Then(fund, ApproveReissueEndpoint.Decide(fund, payout.Id, reissueId, "frank", Now));
        fund.Payouts[reissueId].PerClaim.ShouldBe(payout.PerClaim);
        fund = Then(fund, SettlePayoutEndpoint.Decide(fund, reissueId, new RecordPayoutSettlement("BANK-1"), "fiona", Now));

        fund.Entitlements[Claim(1)].Settled.ShouldBe(1_000m);
        fund.Entitlements[Claim(3)].Settled.ShouldBe(500m);
        fund.Pools[Xinda].Settled.ShouldBe(300m);
        fund.Pools[General].Settled.ShouldBe(1_200m);
    }

    [Fact]
    public void entitlements_without_a_buyer_key_are_each_their_own_payee()
    {
        var fund = Given(Established(), GeneralPool, Deposit(General, 5_000m, "SPONSOR"), Entitled(1, 100m, null), Entitled(2, 200m, null));
        fund = Then(fund, PrepareRoundEndpoint.Decide(fund, Round1, "fiona", Now));

        Release(fund, Round1).Events.OfType<RoundReleased>().Single().Payouts.Count.ShouldBe(2);
    }

    [Fact]
    public void payouts_written_one_per_claim_before_buyers_are_still_read_and_settled()
    {
        var payoutId = Guid.Parse("0195a2c0-0000-7000-8000-0000000d0001");
        var fund = Given(Established(), GeneralPool, Deposit(General, 1_000m, "SPONSOR"), Entitled(1, 600m, null),
            new RoundPrepared(FundId, Round1, 1, 1, [new RoundAllocation(Claim(1), Ref(1), General, Usd(600m))], [], "fiona", Now),
            new RoundReleased(FundId, Round1, [new PayoutIssued(payoutId, "PO-OLD-1", Claim(1), Ref(1), [new PoolAmount(General, Usd(600m))], Usd(600m))], "frank", Now),
            new PayoutSettled(FundId, payoutId, Claim(1), [new PoolAmount(General, Usd(600m))], "BANK", "fiona", Now));

        fund.Entitlements[Claim(1)].Settled.ShouldBe(600m);
        fund.Payouts[payoutId].PerClaim.ShouldBe([new PayoutLine(Claim(1), Ref(1), General, Usd(600m))]);
        fund.Pools[General].Settled.ShouldBe(600m);
    }

    [Fact]
    public void the_cap_per_buyer_goes_to_the_buyers_claims_in_reference_order_whatever_order_they_were_approved_in()
    {
        object[] history = [GeneralPool, Deposit(General, 10_000m, "SPONSOR")];
        var inOrder = Given([Established(capPerBuyer: 1_500m), .. history, Entitled(1, 900m, Ann), Entitled(2, 900m, Ann), Entitled(3, 900m, Ann), Entitled(4, 900m, Bob)]);
        var reversed = Given([Established(capPerBuyer: 1_500m), .. history, Entitled(4, 900m, Bob), Entitled(3, 900m, Ann), Entitled(2, 900m, Ann), Entitled(1, 900m, Ann)]);

        var expected = new RoundPrepared(FundId, Round1, 1, 1,
        [
            new RoundAllocation(Claim(1), Ref(1), General, Usd(900m)),
            new RoundAllocation(Claim(2), Ref(2), General, Usd(600m)),
            new RoundAllocation(Claim(4), Ref(4), General, Usd(900m)),
        ], [], "fiona", Now);
        PrepareRoundEndpoint.Decide(inOrder, Round1, "fiona", Now).Events.ShouldBeFacts(expected);
        PrepareRoundEndpoint.Decide(reversed, Round1, "fiona", Now).Events.ShouldBeFacts(expected);
    }

    [Fact]
    public void a_buyer_at_the_cap_is_paid_nothing_more_in_later_rounds_until_a_payout_comes_back()
    {
        var fund = Round(Given(Established(capPerBuyer: 1_000m), GeneralPool, Deposit(General, 10_000m, "SPONSOR"),
            Entitled(1, 800m, Ann), Entitled(2, 800m, Ann)), Round1);
        fund.Payouts.Values.Single().Amount.ShouldBe(Usd(1_000m));

        PrepareRoundEndpoint.Decide(fund, Round2, "fiona", Now).Refusal!.Code.ShouldBe("buyer-cap-reached");

        var payout = fund.Payouts.Values.Single();
        fund = Then(fund, ReturnPayoutEndpoint.Decide(fund, payout.Id, new RecordPayoutReturn("bounced"), "fiona", Now));
        fund = Then(fund, ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("Ann", "12345678")), "fiona", Now));
        fund = Then(fund, ApproveReissueEndpoint.Decide(fund, payout.Id, Guid.NewGuid(), "frank", Now));
        fund.Entitlements.Values.Sum(e => e.Committed).ShouldBe(1_000m);
    }

    [Fact]
    public void a_reissue_is_not_approved_when_a_round_used_the_buyers_cap_meanwhile()
    {
        var fund = Round(Given(Established(capPerBuyer: 1_000m), GeneralPool, Deposit(General, 10_000m, "SPONSOR"),
            Entitled(1, 800m, Ann), Entitled(2, 800m, Ann)), Round1);
        var payout = fund.Payouts.Values.Single();
        fund = Then(fund, ReturnPayoutEndpoint.Decide(fund, payout.Id, new RecordPayoutReturn("bounced"), "fiona", Now));
        fund = Then(fund, ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("Ann", "12345678")), "fiona", Now));
        fund = Round(fund, Round2);

        var refused = ApproveReissueEndpoint.Decide(fund, payout.Id, Guid.NewGuid(), "frank", Now);
        refused.Refusal!.Code.ShouldBeOneOf("buyer-cap-reached", "claim-not-owed");
        refused.Events.ShouldBeEmpty();
    }

    [Fact]
    public void a_reissue_is_prepared_by_one_finance_user_and_approved_by_another()
    {
        var fund = Round(Given(Established(), GeneralPool, Deposit(General, 1_000m, "SPONSOR"), Entitled(1, 600m, Ann)), Round1);
        var payout = fund.Payouts.Values.Single();

        ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("Ann", "12345678")), "fiona", Now).Refusal!.Code.ShouldBe("payout-not-returned");
        fund = Then(fund, ReturnPayoutEndpoint.Decide(fund, payout.Id, new RecordPayoutReturn("bounced"), "fiona", Now));
        ApproveReissueEndpoint.Decide(fund, payout.Id, Guid.NewGuid(), "frank", Now).Refusal!.Code.ShouldBe("reissue-not-prepared");

        fund = Then(fund, ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("Ann", "12345678")), "fiona", Now));
        fund.Pools[General].InTransit.ShouldBe(0m);
        ReissuePayoutEndpoint.Decide(fund, payout.Id, new ReissuePayout(new BankDetails("Mallory", "99999999")), "frank", Now)
            .Refusal!.Code.ShouldBe("reissue-already-prepared");

        var samePerson = ApproveReissueEndpoint.Decide(fund, payout.Id, Guid.NewGuid(), "FIONA", Now);
        samePerson.Refusal!.Code.ShouldBe("four-eyes");
        samePerson.Events.ShouldBeEmpty();

        var approved = ApproveReissueEndpoint.Decide(fund, payout.Id, Guid.NewGuid(), "frank", Now).Events.Single().ShouldBeOfType<PayoutReissued>();
        approved.PreparedBy.ShouldBe("fiona");
        approved.ReissuedBy.ShouldBe("frank");
        approved.BankDetails.ShouldBe(new BankDetails("Ann", "12345678"));
    }
}
