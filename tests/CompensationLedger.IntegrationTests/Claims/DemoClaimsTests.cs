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
        list.GetProperty("totalCount").GetInt64().ShouldBe(10);
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

public sealed class ClaimOpenApiTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task every_claim_and_exchange_rate_endpoint_is_documented_with_the_expected_version_header_where_needed()
    {
        var document = await (await App.Client().GetAsync("/openapi/v1.json")).Json();
        var paths = document.GetProperty("paths");

        foreach (var path in new[] { "/api/claims", "/api/claims/{claimId}", "/api/claims/{claimId}/history", "/api/exchange-rates" })
            paths.TryGetProperty(path, out _).ShouldBeTrue(path);
        foreach (var action in new[] { "verification", "info-requests", "info-responses", "approval", "rejection", "appeal", "appeal-decision", "withdrawal" })
        {
            var post = paths.GetProperty($"/api/claims/{{claimId}}/{action}").GetProperty("post");
            post.GetProperty("parameters").EnumerateArray().ShouldContain(p => p.GetProperty("name").GetString() == "If-Match" && p.GetProperty("required").GetBoolean(), action);
            post.GetProperty("responses").TryGetProperty("412", out _).ShouldBeTrue(action);
        }
        paths.GetProperty("/api/claims").GetProperty("post").GetProperty("responses").TryGetProperty("201", out _).ShouldBeTrue();
    }
}
