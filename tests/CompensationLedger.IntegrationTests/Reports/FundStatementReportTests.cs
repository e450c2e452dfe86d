using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Funds;
using CompensationLedger.IntegrationTests.Infrastructure;
using NodaTime;

namespace CompensationLedger.IntegrationTests.Reports;

public sealed class FundStatementReportTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task the_fund_statement_ties_out_for_any_period_and_as_of_an_earlier_instant()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 3_000.00m, "SPONSOR-1");
        await App.Entitle(fundId, 1, 980.00m);
        await App.Entitle(fundId, 2, 500.00m);
        await App.Entitle(fundId, 3, 300.00m);
        var roundId = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        var round = await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).Json();
        var second = round.GetProperty("payouts").EnumerateArray().Single(p => p.GetProperty("claimReference").GetString() == "CL-2011-000002").GetProperty("id").GetGuid();
        App.Clock.Advance(Duration.FromDays(3));
        await (await App.Finance().PostJson($"/api/payouts/{second}/return", new { reason = "account closed" })).ShouldBe(200);

        var auditor = App.Client("audrey", Roles.Auditor);
        var april = await (await auditor.GetAsync($"/api/reports/fund-statement?fundId={fundId}&from=2011-04-01&to=2011-04-30")).Json();
        var total = april.GetProperty("total");
        decimal Amount(System.Text.Json.JsonElement line, string field) => line.GetProperty(field).GetProperty("amount").GetDecimal();
        (Amount(total, "opening"), Amount(total, "deposits"), Amount(total, "payouts"), Amount(total, "returns"), Amount(total, "closing"))
            .ShouldBe((0m, 3000m, 1780m, 500m, 1720m));
        total.GetProperty("tiesOut").GetBoolean().ShouldBeTrue();
        april.GetProperty("pools").EnumerateArray().ShouldAllBe(p => p.GetProperty("tiesOut").GetBoolean());

        var later = await (await auditor.GetAsync($"/api/reports/fund-statement?fundId={fundId}&from=2011-04-12&to=2011-04-30")).Json();
        (Amount(later.GetProperty("total"), "opening"), Amount(later.GetProperty("total"), "returns"), Amount(later.GetProperty("total"), "closing"))
            .ShouldBe((1220m, 500m, 1720m));

        var backThen = await (await auditor.GetAsync($"/api/reports/fund-statement?fundId={fundId}&from=2011-04-01&to=2011-04-30&asOf=2011-04-12T00:00:00Z")).Json();
        (Amount(backThen.GetProperty("total"), "returns"), Amount(backThen.GetProperty("total"), "closing")).ShouldBe((0m, 1220m));

        var csvRequest = new HttpRequestMessage(HttpMethod.Get, $"/api/reports/fund-statement?fundId={fundId}&from=2011-04-01&to=2011-04-30");
        csvRequest.Headers.Accept.Add(new System.Net.Http.Headers.MediaTypeWithQualityHeaderValue("text/csv"));
        var rows = (await (await auditor.SendAsync(csvRequest)).Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        rows[0].ShouldBe("pool,currency,opening,deposits,payouts,returns,closing");
        rows[^1].ShouldBe("(total),USD,0.00,3000.00,1780.00,500.00,1720.00");

        (await (await auditor.GetAsync($"/api/reports/fund-statement?fundId={fundId}&from=2011-04-30&to=2011-04-01")).ShouldBeProblem(400)).ErrorFields().ShouldContain("to");

        // The trial balance from the same postings: debits = credits, now and back then.
        foreach (var query in new[] { "", "&asOf=2011-04-12T00:00:00Z" })
        {
            var trial = await (await auditor.GetAsync($"/api/reports/trial-balance?fundId={fundId}{query}")).Json();
            trial.GetProperty("balances").GetBoolean().ShouldBeTrue(query);
            trial.GetProperty("totalDebits").GetProperty("amount").GetDecimal().ShouldBe(3000m, query);
        }
        var lines = (await (await auditor.GetAsync($"/api/reports/trial-balance?fundId={fundId}")).Json()).GetProperty("lines").EnumerateArray().ToList();
        decimal Debit(string account) => lines.Single(l => l.GetProperty("account").GetString() == account).GetProperty("debit").GetProperty("amount").GetDecimal();
        (Debit("pool-cash"), Debit("claims-allocated"), Debit("payouts-in-transit")).ShouldBe((1720m, 0m, 1280m));
        var trialCsv = new HttpRequestMessage(HttpMethod.Get, $"/api/reports/trial-balance?fundId={fundId}");
        trialCsv.Headers.Accept.Add(new System.Net.Http.Headers.MediaTypeWithQualityHeaderValue("text/csv"));
        (await (await auditor.SendAsync(trialCsv)).Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries)[^1]
            .ShouldBe("(total),,USD,3000.00,3000.00");
        await (await auditor.GetAsync($"/api/reports/fund-statement?fundId={Guid.NewGuid()}&from=2011-04-01&to=2011-04-30")).ShouldBeProblem(404);
    }

    [Fact]
    public async Task as_of_an_instant_the_reports_count_exactly_the_events_at_or_before_it_even_within_one_second()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 3_000.00m, "SPONSOR-1");
        await App.Entitle(fundId, 1, 980.00m);
        await App.Entitle(fundId, 2, 500.00m);
        await App.Entitle(fundId, 3, 300.00m);
        App.Clock.Advance(Duration.FromHours(1)); // 09:00:00
        var roundId = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        App.Clock.Advance(Duration.FromMilliseconds(400)); // 09:00:00.4
        var round = await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).Json();
        var payouts = round.GetProperty("payouts").EnumerateArray().ToDictionary(p => p.GetProperty("claimReference").GetString()!, p => p.GetProperty("id").GetGuid());
        App.Clock.Advance(Duration.FromMilliseconds(300)); // 09:00:00.7
        await (await App.Finance().PostJson($"/api/payouts/{payouts["CL-2011-000002"]}/return", new { reason = "account closed" })).ShouldBe(200);
        App.Clock.Advance(Duration.FromDays(1));
        await (await App.Finance().PostJson($"/api/payouts/{payouts["CL-2011-000001"]}/settlement", new { bankReference = "BANK-1" })).ShouldBe(200);

        var auditor = App.Client("audrey", Roles.Auditor);
        async Task<(decimal Deposits, decimal Payouts, decimal Returns, decimal Closing)> Statement(string asOf)
        {
            var total = (await (await auditor.GetAsync($"/api/reports/fund-statement?fundId={fundId}&from=2011-04-01&to=2011-04-30&asOf={asOf}")).Json()).GetProperty("total");
            total.GetProperty("tiesOut").GetBoolean().ShouldBeTrue(asOf);
            return (total.Amount("deposits"), total.Amount("payouts"), total.Amount("returns"), total.Amount("closing"));
        }
        async Task<(decimal PoolCash, decimal Allocated, decimal InTransit, decimal Paid)> Trial(string asOf)
        {
            var trial = await (await auditor.GetAsync($"/api/reports/trial-balance?fundId={fundId}&asOf={asOf}")).Json();
            trial.GetProperty("balances").GetBoolean().ShouldBeTrue(asOf);
            var lines = trial.GetProperty("lines").EnumerateArray().ToDictionary(l => l.GetProperty("account").GetString()!, l => l.Amount("debit"));
            return (lines["pool-cash"], lines["claims-allocated"], lines["payouts-in-transit"], lines["compensation-paid"]);
        }
        async Task<string[]> Register(string asOf) =>
            [.. (await (await auditor.GetAsync($"/api/reports/payout-register?fundId={fundId}&asOf={asOf}")).Json()).GetProperty("payouts").EnumerateArray()
                .OrderBy(p => p.GetProperty("claimReference").GetString(), StringComparer.Ordinal).Select(p => p.GetProperty("status").GetString()!)];

        // Before the round: the deposit only.
        (await Statement("2011-04-11T08:30:00Z")).ShouldBe((3000m, 0m, 0m, 3000m));
        (await Trial("2011-04-11T08:30:00Z")).ShouldBe((3000m, 0m, 0m, 0m));
        (await Register("2011-04-11T08:30:00Z")).ShouldBeEmpty();
        // Prepared, not released: the money is set aside, still held.
        (await Statement("2011-04-11T09:00:00.3Z")).ShouldBe((3000m, 0m, 0m, 3000m));
        (await Trial("2011-04-11T09:00:00.3Z")).ShouldBe((1220m, 1780m, 0m, 0m));
        // Released, the return not yet (same second): everything in transit.
        (await Statement("2011-04-11T09:00:00.5Z")).ShouldBe((3000m, 1780m, 0m, 1220m));
        (await Trial("2011-04-11T09:00:00.5Z")).ShouldBe((1220m, 0m, 1780m, 0m));
        (await Register("2011-04-11T09:00:00.5Z")).ShouldBe(["in-transit", "in-transit", "in-transit"]);
        // A nanosecond before the return, and at it (an event at the instant counts).
        (await Statement("2011-04-11T09:00:00.699999999Z")).ShouldBe((3000m, 1780m, 0m, 1220m));
        (await Statement("2011-04-11T09:00:00.7Z")).ShouldBe((3000m, 1780m, 500m, 1720m));
        (await Trial("2011-04-11T09:00:00.7Z")).ShouldBe((1720m, 0m, 1280m, 0m));
        (await Register("2011-04-11T09:00:00.7Z")).ShouldBe(["in-transit", "returned", "in-transit"]);
        // Before and after the settlement a day later.
        (await Trial("2011-04-12T09:00:00.6Z")).ShouldBe((1720m, 0m, 1280m, 0m));
        (await Trial("2011-04-12T09:00:00.7Z")).ShouldBe((1720m, 0m, 300m, 980m));
        (await Register("2011-04-12T09:00:00.7Z")).ShouldBe(["settled", "returned", "in-transit"]);
        // Before the fund existed: no pools, nothing.
        var empty = await (await auditor.GetAsync($"/api/reports/trial-balance?fundId={fundId}&asOf=2011-01-01T00:00:00Z")).Json();
        empty.GetProperty("lines").GetArrayLength().ShouldBe(0);
    }
}
