using CompensationLedger.Demo;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using Marten;

namespace CompensationLedger.IntegrationTests.Reports;

/// <summary>Every read model is a projection of the events: rebuilding all of them from the event log gives the same answers.</summary>
public sealed class RebuildAllProjectionsTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task rebuilding_every_projection_gives_identical_reports_and_views()
    {
        await PutianDemo.SeedAsync(App.Store, App.Clock);
        await FairPlayFundDemo.SeedAsync(App.Store, App.Clock);
        var fund = FairPlayFundDemo.FundId;
        // A bank statement too, for the reconciliation: one payout of the demo round settled, an unknown line.
        var register = await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/reports/payout-register?fundId={fund}")).Json();
        var inTransit = register.GetProperty("payouts").EnumerateArray().First(p => p.GetProperty("status").GetString() == "in-transit");
        var csv = $"date,reference,amount,currency,direction\n2011-04-11,{inTransit.GetProperty("payoutReference").GetString()},{inTransit.GetProperty("amount").GetProperty("amount").GetDecimal().ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)},USD,debit\n2011-04-11,FEE-APRIL,25.00,USD,debit\n";
        var statementId = (await (await App.Client("fiona", Roles.Finance).PostJson("/api/bank-statements", new { fundId = fund, csv })).Json()).GetProperty("statementId").GetString();
        var urls = new[]
        {
            $"/api/reports/paid-vs-lost?caseId={PutianDemo.CaseId}&groupBy=platform",
            "/api/reports/paid-vs-lost?groupBy=month",
            $"/api/reports/fund-statement?fundId={fund}&from=2011-01-01&to=2030-12-31",
            $"/api/reports/fund-statement?fundId={fund}&from=2011-01-01&to=2030-12-31&asOf=2011-04-20T00:00:00Z",
            $"/api/reports/payout-register?fundId={fund}",
            "/api/reports/payout-register?asOf=2011-04-20T00:00:00Z",
            $"/api/reports/trial-balance?fundId={fund}",
            $"/api/reports/trial-balance?fundId={fund}&asOf=2011-04-20T00:00:00Z",
            $"/api/cases/{PutianDemo.CaseId}",
            $"/api/claims?caseId={PutianDemo.CaseId}&pageSize=100",
            $"/api/funds/{fund}/entitlements",
            "/api/exchange-rates",
            $"/api/reports/reconciliation?statementId={statementId}",
        };
        var auditor = App.Client("audrey", Roles.Auditor);
        async Task<string[]> Answers() => await Task.WhenAll(urls.Select(async url =>
        {
            var response = await auditor.GetAsync(url);
            await response.ShouldBe(200);
            return await response.Content.ReadAsStringAsync();
        }));
        var before = await Answers();

        // Every registered projection (the names come quoted, for display).
        var names = LedgerRebuild.AllNames(App.Store);
        names.ShouldBe(["FraudCase", "Fund", "CompensationLedger.Funds.FundIndexProjection", "CompensationLedger.Funds.CaseCoverageProjection", "FundTerms", "Claim", "ClaimTotals", "CompensationLedger.ExchangeRates.ExchangeRateProjection", "FundReports"], ignoreOrder: true);
        // As the `rebuild` command does: two at a time, the longest first; the totals, fund report and snapshot tables beside the live
        // ones and swapped in, the rest by Marten's daemon.
        var outcomes = await LedgerRebuild.RebuildManyAsync(App.Store, names, LedgerRebuild.Concurrency, TimeSpan.FromMinutes(2), null, CancellationToken.None);
        outcomes.Select(o => o.Name).ShouldBe(LedgerRebuild.InRebuildOrder(names));
        outcomes.ShouldAllBe(o => o.Done);

        var after = await Answers();
        for (var i = 0; i < urls.Length; i++) after[i].ShouldBe(before[i], urls[i]);
    }

    [Fact]
    public async Task a_rebuild_that_fails_is_reported_and_the_others_still_run()
    {
        var seen = new System.Collections.Concurrent.ConcurrentBag<string>();
        var outcomes = await LedgerRebuild.RebuildManyAsync(App.Store, ["NoSuchProjection", "FundTerms", "FraudCase"], 2, TimeSpan.FromMinutes(1), null,
            CancellationToken.None, finished: o => seen.Add(o.Name));

        outcomes.Single(o => o.Name == "NoSuchProjection").Failure.ShouldNotBeNull();
        outcomes.Where(o => o.Name != "NoSuchProjection").ShouldAllBe(o => o.Done);
        seen.ShouldBe(["NoSuchProjection", "FundTerms", "FraudCase"], ignoreOrder: true);
    }

    [Fact]
    public async Task a_cancelled_rebuild_starts_nothing_more()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var outcomes = await LedgerRebuild.RebuildManyAsync(App.Store, ["FundTerms", "FraudCase"], 1, TimeSpan.FromMinutes(1), null, cancelled.Token);
        outcomes.ShouldAllBe(o => !o.Started && !o.Done);
    }

    [Fact]
    public void every_projection_rebuilds_in_large_pages_and_writes_each_aggregate_once()
    {
        // ProjectionRebuilds.Tune runs after the last registration, so a projection added later is covered too: with Marten's
        // defaults a fund's whole snapshot was re-read and rewritten every 500 events of a rebuild.
        var projections = ((StoreOptions)App.Store.Options).Projections.All;
        projections.ShouldNotBeEmpty();
        projections.ShouldAllBe(p => p.Options.BatchSize == ProjectionRebuilds.PageSize && p.Options.RebuildFlushThreshold == ProjectionRebuilds.FlushEveryAggregates);
    }
}
