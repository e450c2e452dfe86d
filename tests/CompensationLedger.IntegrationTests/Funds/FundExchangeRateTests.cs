using CompensationLedger.IntegrationTests.Claims;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.Funds;

public sealed class FundExchangeRateTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task finance_records_a_rate_for_the_fund_and_an_approval_converts_the_loss_with_it()
    {
        var caseId = await App.OpenFlaggedCase();
        var fundId = await App.EstablishFund();
        await (await App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId })).ShouldBe(200);

        var recorded = await App.Finance().PostJson($"/api/funds/{fundId}/exchange-rates", new { date = "2011-02-10", currency = "EUR", rate = 1.3652m });
        await recorded.ShouldBe(201);
        (await recorded.Json()).GetProperty("fundCurrency").GetString().ShouldBe("USD");

        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId, "TT-EUR", 1000.00m, "EUR"));
        await App.Verify(claimId);
        await (await App.Act(App.Approver(), claimId, "approval", new { })).ShouldBe(200);
        var entitlement = (await App.GetClaim(claimId)).GetProperty("entitlement");
        entitlement.GetProperty("rate").GetProperty("rate").GetDecimal().ShouldBe(1.3652m);
        entitlement.GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(955.64m); // 70% of 1,365.20

        await (await App.Finance().PostJson($"/api/funds/{Guid.NewGuid()}/exchange-rates", new { date = "2011-02-10", currency = "EUR", rate = 1.3m })).ShouldBeProblem(404);
        (await (await App.Finance().PostJson($"/api/funds/{fundId}/exchange-rates", new { date = "2011-02-11", currency = "EURO", rate = 1.3m })).ShouldBeProblem(400))
            .ErrorFields().ShouldContain("currency");
        (await (await App.Finance().PostJson($"/api/funds/{fundId}/exchange-rates", new { date = "2011-02-10", currency = "EUR", rate = 1.4m })).ShouldBeProblem(409))
            .GetProperty("code").GetString().ShouldBe("rate-already-recorded");
    }

    [Fact]
    public async Task each_fund_converts_at_its_own_rate_and_a_fund_without_one_for_the_day_at_the_rate_recorded_for_every_fund()
    {
        var caseA = await App.OpenFlaggedCase();
        var caseB = await App.OpenFlaggedCase();
        var fundA = await App.EstablishFund();
        var fundB = await App.EstablishFund();
        await (await App.Finance().PostJson($"/api/funds/{fundA}/cases", new { caseId = caseA })).ShouldBe(200);
        await (await App.Finance().PostJson($"/api/funds/{fundB}/cases", new { caseId = caseB })).ShouldBe(200);

        await (await App.Finance().PostJson("/api/exchange-rates", new { date = "2011-02-10", currency = "EUR", fundCurrency = "USD", rate = 1.2m })).ShouldBe(201);
        // Fund A's own rate for the same day is not a duplicate of the shared one, and does not change fund B's.
        await (await App.Finance().PostJson($"/api/funds/{fundA}/exchange-rates", new { date = "2011-02-10", currency = "EUR", rate = 1.3652m })).ShouldBe(201);

        async Task<System.Text.Json.JsonElement> ApprovedEntitlement(Guid caseId, string payment, string buyer)
        {
            var claimId = await App.FileClaimId(ClaimApi.Filing(caseId, payment, 1000.00m, "EUR", buyer: buyer));
            await App.Verify(claimId);
            await (await App.Act(App.Approver(), claimId, "approval", new { })).ShouldBe(200);
            return (await App.GetClaim(claimId)).GetProperty("entitlement");
        }

        var inA = await ApprovedEntitlement(caseA, "TT-EUR-A", "Ann Buyer");
        inA.GetProperty("rate").GetProperty("rate").GetDecimal().ShouldBe(1.3652m);
        inA.GetProperty("rate").GetProperty("fundId").GetGuid().ShouldBe(fundA);
        inA.GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(955.64m);

        var inB = await ApprovedEntitlement(caseB, "TT-EUR-B", "Bob Buyer");
        inB.GetProperty("rate").GetProperty("rate").GetDecimal().ShouldBe(1.2m);
        inB.GetProperty("rate").GetProperty("fundId").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        inB.GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(840.00m);

        var listed = await (await App.Finance().GetAsync($"/api/exchange-rates?fundId={fundA}")).Json();
        listed.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("rate").GetDecimal()).ShouldBe([1.3652m]);
        var all = await (await App.Finance().GetAsync("/api/exchange-rates?currency=EUR")).Json();
        all.GetProperty("totalCount").GetInt64().ShouldBe(2);
    }
}
