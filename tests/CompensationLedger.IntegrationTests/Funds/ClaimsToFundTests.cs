using Marten;
using System.Text.Json;
using CompensationLedger.IntegrationTests.Claims;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.Funds;

/// <summary>An approval of a claim whose case the fund covers becomes an entitlement the fund owes, exactly once.</summary>
public sealed class ClaimsToFundTests(LedgerApp app) : IntegrationTest(app)
{
    private async Task<JsonElement[]> Entitlements(Guid fundId, int expected)
    {
        // The approval's message is delivered by Wolverine's durable local queue just after the approval commits.
        JsonElement[] items = [];
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var page = await (await App.Finance().GetAsync($"/api/funds/{fundId}/entitlements")).Json();
            items = page.GetProperty("items").EnumerateArray().ToArray();
            if (items.Length >= expected) break;
            await Task.Delay(100);
        }
        return items;
    }

    private async Task<Guid> ApprovedClaim(Guid caseId, string paymentReference = "TT-2011-0042", decimal amount = 1400.00m)
    {
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId, paymentReference, amount));
        await App.Verify(claimId);
        await (await App.Act(App.Approver(), claimId, "approval", new { })).ShouldBe(200);
        return claimId;
    }

    [Fact]
    public async Task approving_a_claim_of_a_covered_case_makes_the_fund_owe_its_entitlement()
    {
        var caseId = await App.OpenFlaggedCase();
        var fundId = await App.EstablishFund();
        await (await App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId })).ShouldBe(200);

        var claimId = await ApprovedClaim(caseId);

        var owed = (await Entitlements(fundId, 1)).ShouldHaveSingleItem();
        owed.GetProperty("claimId").GetGuid().ShouldBe(claimId);
        owed.GetProperty("entitled").GetProperty("amount").GetDecimal().ShouldBe(980.00m);
    }

    [Fact]
    public async Task covering_a_case_records_what_its_already_approved_claims_are_owed()
    {
        var caseId = await App.OpenFlaggedCase();
        await ApprovedClaim(caseId, "TT-1", 1400.00m);
        await ApprovedClaim(caseId, "TT-2", 2000.00m);
        var fundId = await App.EstablishFund();

        await (await App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId })).ShouldBe(200);

        var owed = await Entitlements(fundId, 2);
        owed.Select(e => e.GetProperty("entitled").GetProperty("amount").GetDecimal()).Order().ShouldBe([980.00m, 1000.00m]);
    }

    [Fact]
    public async Task a_case_is_covered_by_one_fund_only()
    {
        var caseId = await App.OpenFlaggedCase();
        var first = await App.EstablishFund();
        var second = await App.EstablishFund();
        await (await App.Finance().PostJson($"/api/funds/{first}/cases", new { caseId })).ShouldBe(200);

        (await (await App.Finance().PostJson($"/api/funds/{first}/cases", new { caseId })).ShouldBeProblem(409))
            .GetProperty("code").GetString().ShouldBe("case-already-covered");
        (await (await App.Finance().PostJson($"/api/funds/{second}/cases", new { caseId })).ShouldBeProblem(409))
            .GetProperty("code").GetString().ShouldBe("case-covered-by-another-fund");
        await (await App.Finance().PostJson($"/api/funds/{first}/cases", new { caseId = Guid.NewGuid() })).ShouldBeProblem(404);
    }

    [Fact]
    public async Task two_funds_covering_the_same_case_at_the_same_moment_leave_it_covered_by_one()
    {
        // Each fund's stream is its own, so their versions do not serialise the two declarations: the case's coverage
        // document (keyed by the case) does. Whichever commits second is refused, however the requests interleave.
        for (var round = 0; round < 5; round++)
        {
            var caseId = await App.OpenFlaggedCase();
            var funds = new[] { await App.EstablishFund(), await App.EstablishFund(), await App.EstablishFund() };
            var responses = await Task.WhenAll(funds.Select(fundId => App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId })));

            responses.Count(r => (int)r.StatusCode == 200).ShouldBe(1);
            foreach (var refused in responses.Where(r => (int)r.StatusCode != 200))
                (await refused.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("case-covered-by-another-fund");
            var covering = funds[Array.FindIndex(responses, r => (int)r.StatusCode == 200)];
            await using var session = App.Store.QuerySession();
            (await session.LoadAsync<CompensationLedger.Funds.CaseCoverage>(caseId))!.FundId.ShouldBe(covering);
            (await session.Events.QueryRawEventDataOnly<CompensationLedger.Funds.FundCoversCase>().ToListAsync())
                .Where(e => e.CaseId == caseId).Select(e => e.FundId).ShouldBe([covering]);
        }
    }

    private static object HalfPolicy(string effectiveFrom, decimal ratio) => new
    {
        effectiveFrom,
        coverageRatio = ratio,
        capPerClaim = new { amount = 600.00m, currency = "USD" },
        minimumPayment = new { amount = 0m, currency = "USD" },
        filingWindowDays = 90,
        deficiencyDeadlineDays = 30,
        appealWindowDays = 60,
        generalPoolBacksPerpetratorPools = false,
    };

    [Fact]
    public async Task a_claim_of_a_covered_case_is_decided_under_the_fund_policy_in_force_when_it_was_filed()
    {
        var caseId = await App.OpenFlaggedCase();
        var fundId = await App.EstablishFund(new
        {
            name = "Half Fund",
            sponsor = "Alibaba.com",
            currency = "USD",
            eligiblePlatforms = new[] { "Alibaba.com" },
            policy = HalfPolicy("2011-02-21", 0.50m),
        });
        await (await App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId })).ShouldBe(200);

        var filedUnderV1 = await App.FileClaimId(ClaimApi.Filing(caseId, "TT-V1", 1000.00m));
        (await App.GetClaim(filedUnderV1)).GetProperty("policy").GetProperty("source").GetString().ShouldBe($"fund {fundId}");

        // A new version from tomorrow does not change the claim filed today.
        await (await App.Finance().PostJson($"/api/funds/{fundId}/policies", new { policy = HalfPolicy("2011-04-12", 0.90m) })).ShouldBe(200);
        App.Clock.Advance(NodaTime.Duration.FromDays(2));
        var filedUnderV2 = await App.FileClaimId(ClaimApi.Filing(caseId, "TT-V2", 500.00m));

        foreach (var claimId in new[] { filedUnderV1, filedUnderV2 })
        {
            await App.Verify(claimId);
            await (await App.Act(App.Approver(), claimId, "approval", new { })).ShouldBe(200);
        }

        (await App.GetClaim(filedUnderV1)).GetProperty("entitlement").GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(500.00m); // 50% of 1,000
        (await App.GetClaim(filedUnderV2)).GetProperty("entitlement").GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(450.00m); // 90% of 500
    }
}
