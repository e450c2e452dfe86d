using System.Text.Json;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Claims;
using CompensationLedger.IntegrationTests.Funds;
using CompensationLedger.IntegrationTests.Infrastructure;
using CompensationLedger.Reports;
using Marten;
using NodaTime;

namespace CompensationLedger.IntegrationTests.Reports;

/// <summary>
/// The report "now" is summed by PostgreSQL over the projection's claim rows (<see cref="ClaimTotalsSql"/>); <see cref="PaidVsLost.Build"/>
/// over the lines in memory is its definition. These hold the two equal, to the JSON text and the CSV byte, for every grouping, one case
/// and all; and the HTTP scenario's report as of each of its events' instants equal to the fold of the event log up to it.
/// </summary>
public sealed class PaidVsLostSqlTests(LedgerApp app) : IntegrationTest(app)
{
    private static readonly JsonSerializerOptions Json = Options();

    private static JsonSerializerOptions Options()
    {
        var options = new JsonSerializerOptions();
        options.ConfigureLedgerJson();
        return options;
    }

    private static readonly PaidVsLostGrouping?[] Groupings = [null, .. Enum.GetValues<PaidVsLostGrouping>().Select(g => (PaidVsLostGrouping?)g)];

    /// <summary>The SQL report and the in-memory one for the same question; both null when the claims mix fund currencies.</summary>
    private async Task<(PaidVsLostReport? Sql, PaidVsLostReport? Memory)> Both(Guid? caseId, PaidVsLostGrouping? grouping, string fallback = "USD", bool claimRows = false)
    {
        await using var session = App.Store.QuerySession();
        var sql = await ClaimTotalsSql.ReportAsync(session, caseId, grouping, fallback, CancellationToken.None, claimRows: claimRows);
        var lines = await ClaimTotalsSource.Now(session, caseId, CancellationToken.None);
        var memory = ClaimTotals.FundCurrencyOf(lines, fallback) is { } currency ? PaidVsLost.Build(lines, caseId, grouping, null, currency) : null;
        return (sql, memory);
    }

    /// <summary>Now: from the rollup's tail alone, then from the rollup once it has absorbed them, and from the claims' rows.</summary>
    private async Task ShouldAgree(IEnumerable<Guid?> caseIds)
    {
        var ids = caseIds.ToList();
        await ShouldAgreeNow(ids, claimRows: false);
        await ShouldAgreeNow(ids, claimRows: true);
        await ClaimTotalsRollup.AdvanceAsync(App.Store, CancellationToken.None);
        await ShouldAgreeNow(ids, claimRows: false);
    }

    private async Task ShouldAgreeNow(IEnumerable<Guid?> caseIds, bool claimRows)
    {
        foreach (var caseId in caseIds)
        foreach (var grouping in Groupings)
        {
            var because = $"case {caseId?.ToString() ?? "(all)"}, groupBy {grouping?.ToString() ?? "(none)"}, from the claim rows {claimRows}";
            var (sql, memory) = await Both(caseId, grouping, claimRows: claimRows);
            sql.ShouldNotBeNull(because);
            memory.ShouldNotBeNull(because);
            JsonSerializer.Serialize(sql, Json).ShouldBe(JsonSerializer.Serialize(memory, Json), because);
            PaidVsLost.ToCsv(sql).ShouldBe(PaidVsLost.ToCsv(memory), because);
        }
    }

    /// <summary>As of each event's instant and a nanosecond before it: the tables' answer equals the fold of the log up to it.</summary>
    private async Task ShouldAgreeAsOf(IEnumerable<Guid?> caseIds)
    {
        await using var session = App.Store.QuerySession();
        var events = await session.Events.QueryAllRawEvents().OrderBy(e => e.Sequence).ToListAsync();
        var instants = events.Select(e => ClaimTotalsLine.BusinessTime(e.Data)).OfType<Instant>().Distinct()
            .SelectMany(t => new[] { t, t - Duration.FromNanoseconds(1) }).Order().ToList();
        foreach (var caseId in caseIds)
        foreach (var asOf in instants)
        {
            var lines = await ClaimTotalsSource.AsOf(session, caseId, asOf, CancellationToken.None);
            foreach (var grouping in Groupings)
            {
                var because = $"case {caseId?.ToString() ?? "(all)"}, groupBy {grouping?.ToString() ?? "(none)"}, asOf {asOf}";
                var memory = PaidVsLost.Build(lines, caseId, grouping, asOf, ClaimTotals.FundCurrencyOf(lines, "USD")!);
                var sql = await ClaimTotalsSql.ReportAsync(session, caseId, grouping, "USD", CancellationToken.None, asOf);
                sql.ShouldNotBeNull(because);
                JsonSerializer.Serialize(sql, Json).ShouldBe(JsonSerializer.Serialize(memory, Json), because);
                PaidVsLost.ToCsv(sql).ShouldBe(PaidVsLost.ToCsv(memory), because);
            }
        }
    }

    private static Dictionary<string, object?> Filing(Guid caseId, string reference, decimal amount, string currency, string platform, string supplier,
        string paymentDate, string country, string buyer)
    {
        var filing = ClaimApi.Filing(caseId, paymentReference: reference, amount: amount, currency: currency, platform: platform, supplier: supplier,
            paymentDate: paymentDate, buyer: buyer);
        filing["buyer"] = new Dictionary<string, object?> { ["name"] = buyer, ["country"] = country, ["email"] = buyer.ToLowerInvariant() + "@example.com" };
        return filing;
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

    [Fact]
    public async Task the_sql_report_equals_the_in_memory_one_over_cases_platforms_countries_months_statuses_and_settled_and_returned_payouts()
    {
        // Case B, no fund (filed first: its payments are early in the filing window): a euro loss converted at its approval,
        // two not yet (unconverted; verified eligible losses in other currencies are covered below), a withdrawal, another platform.
        var b = await App.OpenCase(CaseApi.PutianLike("Other ring"));
        await (await App.Client("ivy", Roles.Investigator).PostJson($"/api/cases/{b}/supplier-accounts",
            new { accounts = new[] { new { platform = "EC21.com", accountId = "ec21-seller", displayName = "EC21 Seller" } } })).ShouldBe(200);
        await (await App.Finance().PostJson("/api/exchange-rates", new { date = "2011-01-20", currency = "EUR", fundCurrency = "USD", rate = 1.40m })).ShouldBe(201);
        var euroApproved = await App.FileClaimId(Filing(b, "B-1", 1000.00m, "EUR", "EC21.com", "ec21-seller", "2011-01-20", "DE", "Fay"));
        var euroPending = await App.FileClaimId(Filing(b, "B-2", 555.55m, "EUR", "EC21.com", "ec21-seller", "2011-02-11", "FR", "Gus"));
        await App.FileClaimId(Filing(b, "B-3", 640.00m, "EUR", "EC21.com", "ec21-seller", "2011-03-15", "FR", "Hal")); // unconverted, not verified
        var withdrawn = await App.FileClaimId(Filing(b, "B-4", 800.00m, "USD", "EC21.com", "ec21-seller", "2011-02-01", "US", "Ida"));
        await App.Verify(euroApproved);
        await App.Verify(euroPending);
        await (await App.Act(App.Approver(), euroApproved, "approval", new { })).ShouldBe(200);
        await (await App.Act(App.Handler(), withdrawn, "withdrawal", new { reason = "The buyer was refunded by the bank." })).ShouldBe(200);

        // Case A, covered by a fund: USD claims on two platforms, three countries, two months; two paid in a round, one settled, one returned.
        var a = await App.OpenFlaggedCase();
        var fundId = await App.EstablishFund();
        await (await App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId = a })).ShouldBe(200);
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 10_000.00m, "DEP-1");
        var settled = await App.FileClaimId(Filing(a, "A-1", 1400.00m, "USD", "Alibaba.com", ClaimApi.FlaggedSupplier, "2011-02-10", "US", "Ann"));
        var bounced = await App.FileClaimId(Filing(a, "A-2", 2000.00m, "USD", "Alibaba.com", ClaimApi.FlaggedSupplier, "2011-01-25", "GB", "Bob"));
        var rejected = await App.FileClaimId(Filing(a, "A-3", 750.50m, "USD", "Alibaba.com", ClaimApi.FlaggedSupplier, "2011-01-15", "DE", "Cid"));
        var waiting = await App.FileClaimId(Filing(a, "A-4", 300.00m, "USD", "Alibaba.com", ClaimApi.FlaggedSupplier, "2011-02-20", "US", "Dee"));
        await App.FileClaimId(Filing(a, "A-5", 99.99m, "USD", "ECPLAZA.net", ClaimApi.FlaggedEcplazaSupplier, "2011-03-01", "US", "Eve")); // filed only
        foreach (var claim in new[] { settled, bounced, rejected, waiting }) await App.Verify(claim);
        await (await App.Act(App.Approver(), settled, "approval", new { })).ShouldBe(200);
        await (await App.Act(App.Approver(), bounced, "approval", new { })).ShouldBe(200);
        await (await App.Act(App.Approver(), rejected, "rejection", new { reason = "insufficient-evidence" })).ShouldBe(200);
        await (await App.Act(App.Handler(), waiting, "info-requests", new { missing = new[] { "Order confirmation" } })).ShouldBe(200);
        await WaitForEntitlements(fundId, 2);
        App.Clock.Advance(Duration.FromDays(7));
        var roundId = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).ShouldBe(200);
        var payouts = (await (await App.Finance().GetAsync($"/api/payouts?fundId={fundId}")).Json()).GetProperty("items").EnumerateArray().ToList();
        Guid PayoutOf(Guid claim) => payouts.Single(p => p.GetProperty("claimId").GetGuid() == claim).GetProperty("id").GetGuid();
        App.Clock.Advance(Duration.FromDays(3));
        await (await App.Finance().PostJson($"/api/payouts/{PayoutOf(settled)}/settlement", new { bankReference = "BANK-1" })).ShouldBe(200);
        await (await App.Finance().PostJson($"/api/payouts/{PayoutOf(bounced)}/return", new { reason = "account closed" })).ShouldBe(200);

        // The scenario covers what it says it does.
        var (all, _) = await Both(null, PaidVsLostGrouping.Case);
        all!.Total.Paid.Amount.ShouldBe(980.00m);
        all.Total.Returned.Amount.ShouldBe(1000.00m);
        all.Total.ClaimedUnconverted.ShouldBe([new Money(1195.55m, "EUR")]);
        all.Groups.Count.ShouldBe(2);
        all.Total.ByStatus.Count(s => s.Value > 0).ShouldBeGreaterThanOrEqualTo(6);

        await ShouldAgree([a, b, null]);
        await ShouldAgreeAsOf([a, b, null]);
    }

    /// <summary>Writes lines straight into the projection's claim rows (figures no HTTP flow would give).</summary>
    private async Task StoreRows(IEnumerable<ClaimTotalsLine> lines)
    {
        await using var session = App.Store.LightweightSession();
        foreach (var l in lines)
        {
            // Queued commands take no null parameters: nulls are written as literals.
            var loss = l.LossInFundCurrency is null ? "null" : "?";
            var resume = l.ResumeStatus is null ? "null" : "?";
            object[] values =
            [
                l.Id, l.CaseId, l.Platform, l.SupplierAccount, l.BuyerCountry, l.PaymentDate, l.PaymentMonth, l.FundCurrency, l.AmountPaid.Currency, l.AmountPaid.Amount,
                .. l.LossInFundCurrency is { } x ? new object[] { x } : [], ListClaimsEndpoint.StatusName(l.Status),
                .. l.ResumeStatus is { } r ? new object[] { ListClaimsEndpoint.StatusName(r) } : [], l.VerifiedEligible, l.Entitled, l.Paid, l.Returned,
                ReportTime.Ns(l.LastEventAt), ReportTime.Ns(l.LastEventAt),
            ];
            // With the change row that takes the claim from nothing to its figures, as a filing's: "now" sums those (the rollup and its tail).
            session.QueueSqlCommand(
                $"""
                 with n as (
                     insert into {LedgerSetup.Schema}.{ClaimTotalsProjection.ClaimsTable} (claim_id, case_id, platform, supplier_account, buyer_country, payment_date,
                         payment_month, fund_currency, paid_currency, amount_paid, loss, status, resume_status, verified_eligible, entitled, paid, returned,
                         last_event_at_ns, max_at_ns, ordered)
                     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {loss}, ?, {resume}, ?, ?, ?, ?, ?, ?, true)
                     returning *)
                 insert into {LedgerSetup.Schema}.{ClaimTotalsProjection.ChangesTable} ({ClaimTotalsProjection.FiledChangeColumns})
                 select {ClaimTotalsProjection.FiledChangeValues("gen_random_uuid()")} from n
                 """, values);
        }
        await session.SaveChangesAsync();
    }

    [Fact]
    public async Task the_sql_report_equals_the_in_memory_one_over_lines_with_odd_scales_keys_and_currencies()
    {
        var caseA = Guid.NewGuid();
        var caseB = Guid.NewGuid();
        var statuses = Enum.GetValues<ClaimStatus>();
        var lines = new List<ClaimTotalsLine>();
        // Amounts with 0 to 4 decimals (a sum keeps the largest scale, in decimal and numeric alike), keys that collide only once
        // joined ("a/b" + "c" and "a" + "b/c"), a key that a spreadsheet would run, JPY and EUR losses not converted yet.
        string[] platforms = ["a/b", "a", "=cmd", "Alibaba.com"];
        string[] suppliers = ["c", "b/c", "x", "cnxinda2010"];
        string[] currencies = ["USD", "EUR", "JPY", "USD"];
        decimal[] amounts = [1400m, 12.5m, 0.125m, 1000.00m, 3.1415m, 999999999.99m, 0m];
        for (var i = 0; i < 60; i++)
        {
            var currency = currencies[i % currencies.Length];
            var amount = amounts[i % amounts.Length];
            var converted = currency == "USD" || i % 3 == 0;
            lines.Add(new ClaimTotalsLine(Guid.NewGuid(), i % 2 == 0 ? caseA : caseB, platforms[i % platforms.Length], suppliers[i % suppliers.Length],
                i % 5 == 0 ? "GB" : "US", new LocalDate(2010 + i % 3, 1 + i % 12, 1 + i % 28), "USD", new Money(amount, currency),
                converted ? amount * 1.5m : null, statuses[i % statuses.Length], i % 4 == 0 ? ClaimStatus.Filed : null, i % 3 != 1,
                i % 2 == 0 ? amount : 0m, i % 5 == 0 ? amounts[(i + 1) % amounts.Length] : 0m, i % 10 == 0 ? 0.5m : 0m,
                Instant.FromUtc(2011, 4, 1, 0, 0)));
        }
        await StoreRows(lines);

        await ShouldAgree([caseA, caseB, null]);

        // No lines: stated in the fallback currency. Mixed fund currencies: refused by both.
        (await Both(Guid.NewGuid(), PaidVsLostGrouping.Platform, "EUR")).Sql!.FundCurrency.ShouldBe("EUR");
        await StoreRows([lines[0] with { Id = Guid.NewGuid(), FundCurrency = "EUR" }]);
        var (sql, memory) = await Both(null, PaidVsLostGrouping.Month);
        sql.ShouldBeNull();
        memory.ShouldBeNull();
        (await Both(caseB, PaidVsLostGrouping.Month)).Sql.ShouldNotBeNull();
    }
}
