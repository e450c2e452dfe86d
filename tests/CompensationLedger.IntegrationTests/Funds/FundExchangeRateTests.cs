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
}
