using CompensationLedger.Demo;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using Marten;

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

        // The bank statement bounced one payout, whose reissue waits for a second finance user; the reconciliation shows
        // the confirmed deposit, the unbooked fee and the payouts still in transit.
        var items = payouts.GetProperty("items").EnumerateArray().ToList();
        var bounced = items.Where(p => p.GetProperty("status").GetString() == "returned").ShouldHaveSingleItem();
        bounced.GetProperty("pendingReissue").GetProperty("preparedBy").GetString().ShouldBe(FairPlayFundDemo.Finance);
        items.Count(p => p.GetProperty("status").GetString() == "in-transit").ShouldBeGreaterThan(0);
        var statementId = (await App.Store.QuerySession().Events.QueryRawEventDataOnly<CompensationLedger.Funds.BankStatementImported>().ToListAsync())
            .ShouldHaveSingleItem().StatementId;
        var reconciliation = await (await finance.GetAsync($"/api/reports/reconciliation?statementId={statementId}")).Json();
        reconciliation.GetProperty("unmatchedOnStatement").EnumerateArray().ShouldHaveSingleItem();
        reconciliation.GetProperty("unmatchedInLedger").GetArrayLength().ShouldBeGreaterThan(0);

        var report = await (await finance.GetAsync($"/api/reports/paid-vs-lost?caseId={PutianDemo.CaseId}&groupBy=platform")).Json();
        report.GetProperty("total").GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBeGreaterThan(0m);
    }
}
