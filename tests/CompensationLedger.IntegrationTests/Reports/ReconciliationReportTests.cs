using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Funds;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.Reports;

public sealed class ReconciliationReportTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task the_reconciliation_lists_matched_mismatched_and_unmatched_lines_on_each_side()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 3_000.00m, "SPONSOR-1");
        await App.Entitle(fundId, 1, 980.00m);
        await App.Entitle(fundId, 2, 500.00m);
        await App.Entitle(fundId, 3, 300.00m);
        var roundId = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        var round = await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).Json();
        var payouts = round.GetProperty("payouts").EnumerateArray().ToDictionary(p => p.GetProperty("claimReference").GetString()!, p => p.GetProperty("reference").GetString()!);
        var csv = $"""
            date,reference,amount,currency,direction
            2011-04-12,{payouts["CL-2011-000001"]},980.00,USD,debit
            2011-04-13,{payouts["CL-2011-000002"]},450.00,USD,debit
            2011-04-15,FEE-APRIL,25.00,USD,debit
            """;
        var imported = await (await App.Finance().PostJson("/api/bank-statements", new { fundId, csv })).Json();
        var statementId = imported.GetProperty("statementId").GetString();

        var auditor = App.Client("audrey", Roles.Auditor);
        var report = await (await auditor.GetAsync($"/api/reports/reconciliation?statementId={statementId}")).Json();

        report.GetProperty("matched").EnumerateArray().Single().GetProperty("line").GetProperty("reference").GetString().ShouldBe(payouts["CL-2011-000001"]);
        report.GetProperty("mismatched").EnumerateArray().Single().GetProperty("line").GetProperty("amount").GetProperty("amount").GetDecimal().ShouldBe(450.00m);
        report.GetProperty("unmatchedOnStatement").EnumerateArray().Single().GetProperty("line").GetProperty("reference").GetString().ShouldBe("FEE-APRIL");
        var expected = report.GetProperty("unmatchedInLedger").EnumerateArray().Select(p => p.GetProperty("claimReference").GetString()).ToList();
        expected.ShouldBe(["CL-2011-000003"]); // the second payout is on the statement, with another amount: listed as mismatched, not twice

        var csvRequest = new HttpRequestMessage(HttpMethod.Get, $"/api/reports/reconciliation?statementId={statementId}");
        csvRequest.Headers.Accept.Add(new System.Net.Http.Headers.MediaTypeWithQualityHeaderValue("text/csv"));
        var rows = (await (await auditor.SendAsync(csvRequest)).Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        rows[0].ShouldBe("section,line,date,reference,amount,currency,direction,match,payout_id,detail");
        rows.Count(r => r.StartsWith("unmatched-in-ledger,", StringComparison.Ordinal)).ShouldBe(1);
        rows.Count(r => r.StartsWith("mismatched,", StringComparison.Ordinal)).ShouldBe(1);

        // Before the statement was imported there is nothing to reconcile.
        await (await auditor.GetAsync($"/api/reports/reconciliation?statementId={statementId}&asOf=2011-04-01T00:00:00Z")).ShouldBeProblem(404);
        (await (await auditor.GetAsync("/api/reports/reconciliation")).ShouldBeProblem(400)).ErrorFields().ShouldContain("statementId");
    }
}
