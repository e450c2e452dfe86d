using CompensationLedger.Demo;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.Claims;

public sealed class DemoClaimsTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task the_demo_seed_files_putian_claims_in_every_kind_of_state_once()
    {
        (await PutianDemo.SeedAsync(App.Store, App.Clock)).ShouldBeTrue();
        var events = await App.EventCount();
        (await PutianDemo.SeedAsync(App.Store, App.Clock)).ShouldBeFalse();
        (await App.EventCount()).ShouldBe(events);

        var auditor = App.Client("audrey", Roles.Auditor);
        var list = await (await auditor.GetAsync($"/api/claims?caseId={PutianDemo.CaseId}")).Json();
        list.GetProperty("totalCount").GetInt64().ShouldBe(9);
        list.GetProperty("items").EnumerateArray().Select(c => c.GetProperty("status").GetString()).Distinct().ShouldBe(
            ["approved", "rejected", "needs-review", "lapsed", "withdrawn", "filed"], ignoreOrder: true);

        var yen = await App.GetClaim(PutianDemoClaims.ClaimId(3));
        yen.GetProperty("entitlement").GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(1000.00m);
        yen.GetProperty("entitlement").GetProperty("rate").GetProperty("currency").GetString().ShouldBe("JPY");
        var euro = await App.GetClaim(PutianDemoClaims.ClaimId(2));
        euro.GetProperty("entitlement").GetProperty("rate").GetProperty("rate").GetDecimal().ShouldBe(1.3652m);

        var rates = await (await App.Client("fin", Roles.Finance).GetAsync("/api/exchange-rates")).Json();
        rates.GetProperty("totalCount").GetInt64().ShouldBe(2);
    }
}
