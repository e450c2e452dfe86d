using System.Text.Json;
using CompensationLedger.Cases;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using Wolverine;

namespace CompensationLedger.IntegrationTests.Funds;

public sealed class FundTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task establishing_a_fund_records_its_policy_and_who_established_it()
    {
        var response = await App.Finance().PostJson("/api/funds", FundApi.FairPlayFund());

        await response.ShouldBe(201);
        var id = (await response.Json()).GetProperty("id").GetGuid();
        response.Headers.Location!.ToString().ShouldBe($"/api/funds/{id}");
        var fund = await App.GetFund(id, Roles.Auditor);
        fund.GetProperty("name").GetString().ShouldBe("Fair Play Fund");
        fund.GetProperty("currency").GetString().ShouldBe("USD");
        fund.GetProperty("establishedBy").GetString().ShouldBe(FundApi.Preparer);
        var policy = fund.GetProperty("policyInForce");
        policy.GetProperty("version").GetInt32().ShouldBe(1);
        policy.GetProperty("coverageRatio").GetDecimal().ShouldBe(0.70m);
        policy.Amount("capPerClaim").ShouldBe(1_000m);
        fund.GetProperty("pools").GetArrayLength().ShouldBe(0);
    }

    [Fact]
    public async Task deposits_are_idempotent_by_bank_reference_and_show_in_the_pool()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 250_000.00m, "SPONSOR-2011-001");
        var events = await App.EventCount();

        var again = await App.Finance().PostJson($"/api/funds/{fundId}/pools/{poolId}/deposits",
            new { amount = new { amount = 250_000.00m, currency = "USD" }, bankReference = "SPONSOR-2011-001", valueDate = "2011-05-30" });
        await again.ShouldBe(200);
        (await again.Json()).GetProperty("duplicate").GetBoolean().ShouldBeTrue();

        var other = await App.Finance().PostJson($"/api/funds/{fundId}/pools/{poolId}/deposits",
            new { amount = new { amount = 1.00m, currency = "USD" }, bankReference = "SPONSOR-2011-001", valueDate = "2011-05-30" });
        (await other.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("bank-reference-used");
        (await App.EventCount()).ShouldBe(events);

        var pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.GetProperty("kind").GetString().ShouldBe("general");
        pool.Amount("deposited").ShouldBe(250_000m);
        pool.Amount("available").ShouldBe(250_000m);
        pool.Amount("allocated").ShouldBe(0m);
    }

    [Fact]
    public async Task a_perpetrator_pool_is_for_a_supplier_account_the_case_flagged_and_a_fund_has_one_general_pool()
    {
        var caseId = await App.OpenCase();
        await (await App.Client("ivy", Roles.Investigator).PostJson($"/api/cases/{caseId}/supplier-accounts",
            new { accounts = new[] { new { platform = "Alibaba.com", accountId = "CNXinda", displayName = "Xinda" } } })).ShouldBe(200);
        var fundId = await App.EstablishFund();

        var opened = await App.Finance().PostJson($"/api/funds/{fundId}/pools",
            new { kind = "perpetrator", name = "Xinda forfeited fees", caseId, platform = "alibaba.com", supplierAccountId = " cnxinda " });
        await opened.ShouldBe(201);
        var pool = await opened.Json();
        pool.GetProperty("perpetrator").GetProperty("accountId").GetString().ShouldBe("cnxinda");
        pool.GetProperty("perpetrator").GetProperty("platform").GetString().ShouldBe("Alibaba.com");

        var again = await App.Finance().PostJson($"/api/funds/{fundId}/pools",
            new { kind = "perpetrator", name = "Xinda again", caseId, platform = "Alibaba.com", supplierAccountId = "cnxinda" });
        (await again.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("perpetrator-pool-exists");
        var unflagged = await App.Finance().PostJson($"/api/funds/{fundId}/pools",
            new { kind = "perpetrator", name = "Nobody", caseId, platform = "Alibaba.com", supplierAccountId = "honest-trader" });
        (await unflagged.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("supplier-not-flagged");
        var noCase = await App.Finance().PostJson($"/api/funds/{fundId}/pools",
            new { kind = "perpetrator", name = "Nobody", caseId = Guid.NewGuid(), platform = "Alibaba.com", supplierAccountId = "cnxinda" });
        await noCase.ShouldBeProblem(404);

        await App.OpenGeneralPool(fundId);
        var secondGeneral = await App.Finance().PostJson($"/api/funds/{fundId}/pools", new { kind = "general", name = "Another" });
        (await secondGeneral.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("general-pool-exists");
    }

    [Fact]
    public async Task a_new_policy_version_applies_from_its_date_and_cannot_reach_into_the_past()
    {
        var fundId = await App.EstablishFund();

        var future = await App.Finance().PostJson($"/api/funds/{fundId}/policies", new { policy = FundApi.Policy(effectiveFrom: "2011-07-01", minimum: 25m) });
        await future.ShouldBe(200);
        var fund = await future.Json();
        fund.GetProperty("policies").GetArrayLength().ShouldBe(2);
        fund.GetProperty("policyInForce").GetProperty("version").GetInt32().ShouldBe(1);

        App.Clock.Reset(Instant.FromUtc(2011, 7, 1, 0, 0));
        (await App.GetFund(fundId)).GetProperty("policyInForce").GetProperty("version").GetInt32().ShouldBe(2);

        var past = await App.Finance().PostJson($"/api/funds/{fundId}/policies", new { policy = FundApi.Policy(effectiveFrom: "2011-06-01") });
        (await past.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("policy-in-the-past");
    }

    [Fact]
    public async Task a_round_shows_every_allocation_and_is_released_only_by_a_second_finance_user()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 1_000.00m, "DEP-1");
        await App.Entitle(fundId, 3, 1_000m);
        await App.Entitle(fundId, 1, 1_000m);
        await App.Entitle(fundId, 2, 1_000m);

        var round = await App.PrepareRound(fundId);
        round.GetProperty("status").GetString().ShouldBe("prepared");
        round.Amount("total").ShouldBe(1_000m);
        round.GetProperty("allocations").EnumerateArray()
            .Select(a => (a.GetProperty("claimReference").GetString(), a.Amount("amount")))
            .ShouldBe([("CL-2011-000001", 333.34m), ("CL-2011-000002", 333.33m), ("CL-2011-000003", 333.33m)]);
        var roundId = round.GetProperty("id").GetGuid();
        var pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("allocated").ShouldBe(1_000m);
        pool.Amount("available").ShouldBe(0m);

        var events = await App.EventCount();
        var byPreparer = await App.Finance(FundApi.Preparer).PostJson($"/api/rounds/{roundId}/release", new { });
        (await byPreparer.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("four-eyes");
        (await App.EventCount()).ShouldBe(events);

        var released = await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { });
        await released.ShouldBe(200);
        var view = await released.Json();
        view.GetProperty("status").GetString().ShouldBe("released");
        view.GetProperty("releasedBy").GetString().ShouldBe(FundApi.Releaser);
        var payouts = view.GetProperty("payouts").EnumerateArray().ToList();
        payouts.Count.ShouldBe(3);
        payouts.Select(p => p.GetProperty("reference").GetString()).Distinct().Count().ShouldBe(3);
        payouts.ShouldAllBe(p => p.GetProperty("status").GetString() == "in-transit");

        var again = await App.Finance("fatima").PostJson($"/api/rounds/{roundId}/release", new { });
        (await again.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("round-not-prepared");

        var read = await App.Client("audrey", Roles.Auditor).GetAsync($"/api/rounds/{roundId}");
        await read.ShouldBe(200);
        (await read.Json()).GetProperty("payouts").GetArrayLength().ShouldBe(3);
        // A payout is found by its id (its register row names its fund), a round by its own; neither id stands for the other.
        var payoutId = payouts[0].GetProperty("id").GetGuid();
        (await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/payouts/{payoutId}")).Json()).GetProperty("reference").GetString()
            .ShouldBe(payouts[0].GetProperty("reference").GetString());
        await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/payouts/{roundId}")).ShouldBeProblem(404);
        await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/rounds/{payoutId}")).ShouldBeProblem(404);
        events = await App.EventCount();
        await (await App.Finance().PostJson($"/api/payouts/{roundId}/settlement", new { bankReference = "BANK-X" })).ShouldBeProblem(404);
        (await App.EventCount()).ShouldBe(events);
        pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("inTransit").ShouldBe(1_000m);
        pool.Amount("allocated").ShouldBe(0m);

        var owed = await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/funds/{fundId}/entitlements?stillOwed=true")).Json();
        var first = owed.GetProperty("items").EnumerateArray().First();
        first.GetProperty("claimReference").GetString().ShouldBe("CL-2011-000001");
        first.Amount("entitled").ShouldBe(1_000m);
        first.Amount("inTransit").ShouldBe(333.34m);
        first.Amount("stillOwed").ShouldBe(666.66m);
    }

    [Fact]
    public async Task settled_and_returned_payouts_move_the_money_and_a_returned_one_is_reissued_to_corrected_details()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 5_000.00m, "DEP-1");
        await App.Entitle(fundId, 1, 980.00m);
        await App.Entitle(fundId, 2, 700.70m);
        var roundId = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).ShouldBe(200);

        var inTransit = await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/payouts?status=in-transit&fundId={fundId}")).Json();
        inTransit.GetProperty("totalCount").GetInt64().ShouldBe(2);
        var items = inTransit.GetProperty("items").EnumerateArray().ToList();
        var first = items.Single(p => p.GetProperty("claimReference").GetString() == "CL-2011-000001").GetProperty("id").GetGuid();
        var second = items.Single(p => p.GetProperty("claimReference").GetString() == "CL-2011-000002").GetProperty("id").GetGuid();

        await (await App.Finance().PostJson($"/api/payouts/{first}/settlement", new { bankReference = "BANK-777" })).ShouldBe(200);
        var returned = await App.Finance().PostJson($"/api/payouts/{second}/return", new { reason = "account closed" });
        await returned.ShouldBe(200);
        (await returned.Json()).GetProperty("status").GetString().ShouldBe("returned");

        var pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("settled").ShouldBe(980m);
        pool.Amount("returned").ShouldBe(700.70m);
        pool.Amount("inTransit").ShouldBe(0m);
        pool.Amount("available").ShouldBe(4_020m);

        var prepared = await App.Finance().PostJson($"/api/payouts/{second}/reissue",
            new { bankDetails = new { accountHolder = "Ann Buyer", accountNumber = "GB29 NWBK 6016 1331 9268 19", bankName = "NatWest" } });
        await prepared.ShouldBe(202);
        var reissue = await App.Finance(FundApi.Releaser).PostJson($"/api/payouts/{second}/reissue/approval", new { });
        await reissue.ShouldBe(201);
        var reissued = await reissue.Json();
        reissued.GetProperty("reissueOf").GetGuid().ShouldBe(second);
        reissued.Amount("amount").ShouldBe(700.70m);
        reissued.GetProperty("bankDetails").GetProperty("accountNumber").GetString()!.ShouldEndWith("6819");
        reissued.GetProperty("bankDetails").GetProperty("accountNumber").GetString()!.ShouldNotContain("NWBK");

        var twice = await App.Finance().PostJson($"/api/payouts/{second}/reissue", new { bankDetails = new { accountHolder = "Ann", accountNumber = "12345678" } });
        (await twice.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("payout-already-reissued");
        (await (await App.Finance().PostJson($"/api/payouts/{first}/return", new { reason = "late" })).ShouldBeProblem(409))
            .GetProperty("code").GetString().ShouldBe("payout-not-in-transit");

        pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("inTransit").ShouldBe(700.70m);
        pool.Amount("available").ShouldBe(3_319.30m);

        var booksResponse = await App.Client("audrey", Roles.Auditor).GetAsync($"/api/funds/{fundId}/books");
        await booksResponse.ShouldBe(200);
        var books = await booksResponse.Json();
        books.Amount("totalDebits").ShouldBe(books.Amount("totalCredits"));
        var lines = books.GetProperty("lines").EnumerateArray().ToDictionary(l => l.GetProperty("account").GetString()!, l => l.Amount("balance"));
        lines[Books.PoolCash].ShouldBe(3_319.30m);
        lines[Books.PayoutsInTransit].ShouldBe(700.70m);
        lines[Books.CompensationPaid].ShouldBe(980m);
        lines[Books.Contributions].ShouldBe(-5_000m);
    }

    [Fact]
    public async Task the_books_can_be_read_as_of_an_earlier_instant()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 100.00m, "DEP-1");
        App.Clock.Advance(Duration.FromHours(1));
        var between = App.Clock.GetCurrentInstant();
        App.Clock.Advance(Duration.FromHours(1));
        await App.Deposit(fundId, poolId, 50.00m, "DEP-2");

        var thenResponse = await App.Finance().GetAsync($"/api/funds/{fundId}/books?asOf={NodaTime.Text.InstantPattern.ExtendedIso.Format(between)}");
        await thenResponse.ShouldBe(200);
        var then = await thenResponse.Json();
        then.Amount("totalDebits").ShouldBe(100m);
        var now = await (await App.Finance().GetAsync($"/api/funds/{fundId}/books")).Json();
        now.Amount("totalDebits").ShouldBe(150m);
        // Before the fund was established there were no books to read.
        await (await App.Finance().GetAsync($"/api/funds/{fundId}/books?asOf=2000-01-01T00:00:00Z")).ShouldBeProblem(404);
    }

    [Fact]
    public async Task a_claim_against_a_perpetrator_is_paid_from_its_pool_first_then_from_the_general_pool_when_the_policy_allows()
    {
        var caseId = await App.OpenCase();
        await (await App.Client("ivy", Roles.Investigator).PostJson($"/api/cases/{caseId}/supplier-accounts",
            new { accounts = new[] { new { platform = "Alibaba.com", accountId = "cnxinda", displayName = "Xinda" } } })).ShouldBe(200);
        var fundId = await App.EstablishFund(FundApi.FairPlayFund(backs: true));
        var general = await App.OpenGeneralPool(fundId);
        var opened = await App.Finance().PostJson($"/api/funds/{fundId}/pools",
            new { kind = "perpetrator", name = "Xinda fees", caseId, platform = "Alibaba.com", supplierAccountId = "cnxinda" });
        var xinda = (await opened.Json()).GetProperty("id").GetGuid();
        await App.Deposit(fundId, xinda, 300.00m, "FEES-XINDA");
        await App.Deposit(fundId, general, 10_000.00m, "SPONSOR-1");
        await App.Entitle(fundId, 1, 1_000m, supplier: "cnxinda", caseId: caseId);
        await App.Entitle(fundId, 2, 500m, supplier: "cnxinda", caseId: caseId);
        await App.Entitle(fundId, 3, 700m);

        var round = await App.PrepareRound(fundId);

        round.GetProperty("allocations").EnumerateArray()
            .Select(a => (a.GetProperty("claimReference").GetString(), a.GetProperty("poolId").GetGuid() == xinda ? "xinda" : "general", a.Amount("amount")))
            .ShouldBe([("CL-2011-000001", "xinda", 200m), ("CL-2011-000001", "general", 800m), ("CL-2011-000002", "xinda", 100m),
                ("CL-2011-000002", "general", 400m), ("CL-2011-000003", "general", 700m)]);
        var fund = await App.GetFund(fundId);
        fund.Pool(xinda).Amount("available").ShouldBe(0m);
        fund.Pool(general).Amount("available").ShouldBe(8_100m);
    }

    [Fact]
    public async Task a_yen_fund_allocates_whole_yen()
    {
        var fundId = await App.EstablishFund(FundApi.FairPlayFund("JPY"));
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 100_000m, "DEP-JPY", "JPY");
        for (var n = 1; n <= 3; n++) await App.Entitle(fundId, n, 60_000m, currency: "JPY");

        var round = await App.PrepareRound(fundId);
        round.GetProperty("allocations").EnumerateArray().Select(a => a.Amount("amount")).ShouldBe([33_334m, 33_333m, 33_333m]);
        round.GetProperty("total").GetProperty("currency").GetString().ShouldBe("JPY");
    }

    [Fact]
    public async Task an_entitlement_in_another_currency_than_the_funds_is_refused_at_the_seam()
    {
        var fundId = await App.EstablishFund();

        var refused = await Should.ThrowAsync<EntitlementRefusedException>(() => App.Entitle(fundId, 1, 100m, currency: "EUR"));
        refused.Refusal.Code.ShouldBe("currency-mismatch");
        (await App.GetFund(fundId)).GetProperty("entitlements").GetProperty("claims").GetInt32().ShouldBe(0);
    }
}
