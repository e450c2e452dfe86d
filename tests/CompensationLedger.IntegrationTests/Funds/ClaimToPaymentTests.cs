using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Claims;
using CompensationLedger.IntegrationTests.Infrastructure;
using CompensationLedger.IntegrationTests.StatusLookup;
using NodaTime;

namespace CompensationLedger.IntegrationTests.Funds;

/// <summary>The whole way, over HTTP: a buyer's claim is approved, the fund pays it in a round, the bank settles or returns it, and the buyer and the reports see it.</summary>
public sealed class ClaimToPaymentTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task an_approved_claim_is_paid_in_a_round_and_the_buyer_and_the_report_see_the_payment()
    {
        var caseId = await App.OpenFlaggedCase();
        var fundId = await App.EstablishFund();
        await (await App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId })).ShouldBe(200);
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 10_000.00m, "DEP-1");

        var paid = await App.FileForBuyer(caseId, "TT-PAID", 1400.00m);
        var bounced = await App.FileForBuyer(caseId, "TT-BOUNCED", 2000.00m, buyer: "Bob Other");
        foreach (var claim in new[] { paid, bounced })
        {
            await App.Verify(claim.ClaimId);
            await (await App.Act(App.Approver(), claim.ClaimId, "approval", new { })).ShouldBe(200);
        }
        await WaitForEntitlements(fundId, 2);

        App.Clock.Advance(Duration.FromDays(7));
        var roundId = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).ShouldBe(200);
        var payouts = (await (await App.Finance().GetAsync($"/api/payouts?fundId={fundId}")).Json()).GetProperty("items").EnumerateArray().ToList();
        var toPaid = payouts.Single(p => p.GetProperty("claimId").GetGuid() == paid.ClaimId).GetProperty("id").GetGuid();
        var toBounced = payouts.Single(p => p.GetProperty("claimId").GetGuid() == bounced.ClaimId).GetProperty("id").GetGuid();

        App.Clock.Advance(Duration.FromDays(3));
        await (await App.Finance().PostJson($"/api/payouts/{toPaid}/settlement", new { bankReference = "BANK-1" })).ShouldBe(200);
        await (await App.Finance().PostJson($"/api/payouts/{toBounced}/return", new { reason = "account closed" })).ShouldBe(200);

        // The buyer sees the money, and what to do about the bounced payment.
        var paidStatus = await App.Status(paid);
        paidStatus.GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBe(980.00m);
        var payment = paidStatus.GetProperty("payments").EnumerateArray().ShouldHaveSingleItem();
        payment.GetProperty("status").GetString().ShouldBe("paid");
        payment.GetProperty("date").GetString().ShouldBe("2011-04-21");
        paidStatus.GetProperty("timeline").EnumerateArray().Select(t => t.GetProperty("title").GetString()).ShouldContain("Payment received by your bank");

        var bouncedStatus = await App.Status(bounced);
        bouncedStatus.GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBe(0m);
        var returned = bouncedStatus.GetProperty("payments").EnumerateArray().ShouldHaveSingleItem();
        returned.GetProperty("status").GetString().ShouldBe("returned by the bank");
        returned.GetProperty("whatToDo").GetString()!.ShouldContain("correct bank details");

        // The report: paid versus lost, now and before the payment.
        var auditor = App.Client("audrey", Roles.Auditor);
        var now = await (await auditor.GetAsync($"/api/reports/paid-vs-lost?caseId={caseId}&groupBy=platform")).Json();
        var total = now.GetProperty("total");
        total.GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBe(980.00m);
        total.GetProperty("returned").GetProperty("amount").GetDecimal().ShouldBe(1000.00m);
        total.GetProperty("outstanding").GetProperty("amount").GetDecimal().ShouldBe(1000.00m);

        var before = await (await auditor.GetAsync($"/api/reports/paid-vs-lost?caseId={caseId}&groupBy=platform&asOf=2011-04-19T00:00:00Z")).Json();
        before.GetProperty("total").GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBe(0m);
        var asOfNow = await (await auditor.GetAsync($"/api/reports/paid-vs-lost?caseId={caseId}&groupBy=platform&asOf=2011-04-22T00:00:00Z")).Json();
        asOfNow.GetProperty("total").GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBe(980.00m);

        // The payout register: both payouts of the round, with their status now and as of before the bank answered.
        var register = await (await auditor.GetAsync($"/api/reports/payout-register?from=2011-04-01&to=2011-04-30&fundId={fundId}")).Json();
        var lines = register.GetProperty("payouts").EnumerateArray().ToList();
        lines.Select(l => l.GetProperty("status").GetString()).ShouldBe(["settled", "returned"], ignoreOrder: true);
        register.GetProperty("issued").EnumerateArray().Single().GetProperty("amount").GetDecimal().ShouldBe(1980.00m);
        register.GetProperty("settled").EnumerateArray().Single().GetProperty("amount").GetDecimal().ShouldBe(980.00m);
        register.GetProperty("returned").EnumerateArray().Single().GetProperty("amount").GetDecimal().ShouldBe(1000.00m);

        register.GetProperty("totalPayouts").GetInt32().ShouldBe(2);

        // A page at a time: the totals stay those of the whole period, and the pages together are the register.
        var first = await (await auditor.GetAsync($"/api/reports/payout-register?from=2011-04-01&to=2011-04-30&fundId={fundId}&pageSize=1")).Json();
        var second = await (await auditor.GetAsync($"/api/reports/payout-register?from=2011-04-01&to=2011-04-30&fundId={fundId}&pageSize=1&page=2")).Json();
        var beyond = await (await auditor.GetAsync($"/api/reports/payout-register?from=2011-04-01&to=2011-04-30&fundId={fundId}&pageSize=1&page=3")).Json();
        foreach (var page in new[] { first, second, beyond })
        {
            page.GetProperty("totalPayouts").GetInt32().ShouldBe(2);
            page.GetProperty("pageSize").GetInt32().ShouldBe(1);
            page.GetProperty("issued").EnumerateArray().Single().GetProperty("amount").GetDecimal().ShouldBe(1980.00m);
            page.GetProperty("returned").EnumerateArray().Single().GetProperty("amount").GetDecimal().ShouldBe(1000.00m);
        }
        beyond.GetProperty("payouts").GetArrayLength().ShouldBe(0);
        first.GetProperty("payouts").EnumerateArray().Concat(second.GetProperty("payouts").EnumerateArray())
            .Select(l => l.GetProperty("payoutReference").GetString())
            .ShouldBe(lines.Select(l => l.GetProperty("payoutReference").GetString()));
        (await (await auditor.GetAsync("/api/reports/payout-register?pageSize=0")).ShouldBeProblem(400)).ErrorFields().ShouldContain("pageSize");
        (await (await auditor.GetAsync("/api/reports/payout-register?page=0")).ShouldBeProblem(400)).ErrorFields().ShouldContain("page");

        var earlier = await (await auditor.GetAsync($"/api/reports/payout-register?fundId={fundId}&asOf=2011-04-19T00:00:00Z")).Json();
        earlier.GetProperty("payouts").EnumerateArray().Select(l => l.GetProperty("status").GetString()).ShouldBe(["in-transit", "in-transit"]);
        var beforeRound = await (await auditor.GetAsync($"/api/reports/payout-register?fundId={fundId}&asOf=2011-04-12T00:00:00Z")).Json();
        beforeRound.GetProperty("payouts").GetArrayLength().ShouldBe(0);

        var csvRequest = new HttpRequestMessage(HttpMethod.Get, $"/api/reports/payout-register?fundId={fundId}");
        csvRequest.Headers.Accept.Add(new System.Net.Http.Headers.MediaTypeWithQualityHeaderValue("text/csv"));
        var csv = await (await auditor.SendAsync(csvRequest)).Content.ReadAsStringAsync();
        var rows = csv.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        rows[0].ShouldBe("payout_reference,claim_reference,fund,round_id,amount,currency,status,issued_at,settled_at,returned_at,return_reason,reissue_of");
        rows.Length.ShouldBe(3);
        rows.ShouldContain(r => r.Contains(",980.00,USD,settled,", StringComparison.Ordinal));

        (await (await auditor.GetAsync("/api/reports/payout-register?from=2011-13-01")).ShouldBeProblem(400)).ErrorFields().ShouldContain("from");
    }

    private async Task WaitForEntitlements(Guid fundId, int expected)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var page = await (await App.Finance().GetAsync($"/api/funds/{fundId}/entitlements")).Json();
            if (page.GetProperty("items").GetArrayLength() >= expected) return;
            await Task.Delay(100);
        }
        throw new TimeoutException("The approvals did not reach the fund.");
    }
}
