using CompensationLedger.IntegrationTests.Claims;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.StatusLookup;

public sealed class AccessCodeTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task a_handler_can_issue_a_new_access_code_and_the_old_one_stops_working()
    {
        var caseId = await App.OpenFlaggedCase();
        var buyer = await App.FileForBuyer(caseId);

        var response = await App.Act(App.Handler(), buyer.ClaimId, "access-code", new { });

        await response.ShouldBe(200);
        response.Headers.CacheControl!.NoStore.ShouldBeTrue();
        var newCode = (await response.Json()).GetProperty("accessCode").GetString()!;
        newCode.ShouldNotBe(buyer.AccessCode);
        await (await App.LookUp(buyer.Reference, buyer.AccessCode)).ShouldBe(404);
        await (await App.LookUp(buyer.Reference, newCode)).ShouldBe(200);

        // The code is in no event: the history says only that a new one was issued.
        var history = await (await App.Client("audrey", CompensationLedger.Infrastructure.Roles.Auditor).GetAsync($"/api/claims/{buyer.ClaimId}/history")).Content.ReadAsStringAsync();
        history.ShouldContain("ClaimAccessCodeReissued");
        history.ShouldNotContain(newCode);
    }
}
