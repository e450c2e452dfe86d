using CompensationLedger.Demo;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.Funds;

public sealed class DemoFundTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task the_demo_fund_covers_the_putian_case_owes_its_approved_claims_and_has_paid_a_first_payout()
    {
        await PutianDemo.SeedAsync(App.Store, App.Clock);
        (await FairPlayFundDemo.SeedAsync(App.Store, App.Clock)).ShouldBeTrue();
        (await FairPlayFundDemo.SeedAsync(App.Store, App.Clock)).ShouldBeFalse();

        var finance = App.Client("fin", Roles.Finance);
        var approved = await (await finance.GetAsync($"/api/claims?caseId={PutianDemo.CaseId}&status=approved")).Json();
        var owed = await (await finance.GetAsync($"/api/funds/{FairPlayFundDemo.FundId}/entitlements")).Json();
        owed.GetProperty("totalCount").GetInt64().ShouldBe(approved.GetProperty("totalCount").GetInt64());
        owed.GetProperty("totalCount").GetInt64().ShouldBeGreaterThan(0);

        var payouts = await (await finance.GetAsync($"/api/payouts?fundId={FairPlayFundDemo.FundId}")).Json();
        payouts.GetProperty("items").EnumerateArray().Select(p => p.GetProperty("status").GetString()).ShouldContain("settled");
        // Daniel Okafor filed claims 1 and 10: one transfer pays both.
        var daniel = payouts.GetProperty("items").EnumerateArray()
            .Where(p => p.GetProperty("claims").EnumerateArray().Any(l => l.GetProperty("claimId").GetGuid() == PutianDemoClaims.ClaimId(1))).ToList();
        daniel.ShouldHaveSingleItem().GetProperty("claims").EnumerateArray().Select(l => l.GetProperty("claimId").GetGuid()).Distinct()
            .ShouldBe([PutianDemoClaims.ClaimId(1), PutianDemoClaims.ClaimId(10)]);

        var report = await (await finance.GetAsync($"/api/reports/paid-vs-lost?caseId={PutianDemo.CaseId}&groupBy=platform")).Json();
        report.GetProperty("total").GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBeGreaterThan(0m);
    }
}
