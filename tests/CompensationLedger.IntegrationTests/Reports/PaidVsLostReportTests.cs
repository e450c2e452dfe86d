using System.Net.Http.Headers;
using System.Text.Json;
using System.Xml.Linq;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Claims;
using CompensationLedger.IntegrationTests.Infrastructure;
using CompensationLedger.Reports;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using NodaTime.Text;
using Wolverine;

namespace CompensationLedger.IntegrationTests.Reports;

/// <summary>
/// The paid-versus-lost report over a seeded scenario, checked against figures computed by hand:
/// <list type="bullet">
/// <item>Putian ring, at 08:00 (payment dates and countries in brackets): c1 USD 1,400.00 Alibaba.com (2011-02-10, US); c2 EUR 1,000.00
/// Made-in-China.com (2011-01-20, DE), rate 1.40 recorded; c3 USD 2,000.00 Alibaba.com (2011-01-25, GB); c4 USD 500.00 Alibaba.com (2011-02-20, US).</item>
/// <item>09:00 all four verified eligible. 10:00 c1 approved (980.00), c3 rejected. 11:00 c2 approved (1,400.00 USD loss, 980.00);
/// c4 asked for information, unanswered: lapsed 30 days later.</item>
/// <item>A second case with one USD 800.00 claim on EC21.com, filed only.</item>
/// </list>
/// </summary>
public sealed class PaidVsLostReportTests(LedgerApp app) : IntegrationTest(app)
{
    private static readonly Instant Verified = LedgerApp.Start + Duration.FromHours(1);
    private static readonly Instant FirstDecisions = LedgerApp.Start + Duration.FromHours(2);
    private static readonly Instant BeforeEuroApproval = LedgerApp.Start + Duration.FromHours(2) + Duration.FromMinutes(30);
    private static readonly Instant EuroApproval = LedgerApp.Start + Duration.FromHours(3);

    private sealed record Scenario(Guid Putian, Guid Other, Guid C1, Guid C2, Guid C3, Guid C4, Guid C5, string ReportBeforeEuroApproval);

    private HttpClient Finance => App.Client("fiona", Roles.Finance);

    private HttpClient Auditor => App.Client("audrey", Roles.Auditor);

    private static Dictionary<string, object?> Filing(Guid caseId, string reference, decimal amount, string currency, string platform, string supplier,
        string paymentDate, string country)
    {
        var filing = ClaimApi.Filing(caseId, paymentReference: reference, amount: amount, currency: currency, platform: platform, supplier: supplier, paymentDate: paymentDate);
        filing["buyer"] = new Dictionary<string, object?> { ["name"] = "Buyer " + reference, ["country"] = country, ["email"] = "buyer@example.com" };
        return filing;
    }

    private async Task<Scenario> Seed()
    {
        var putian = await App.OpenFlaggedCase();
        var investigator = App.Client("ivy", Roles.Investigator);
        await (await investigator.PostJson($"/api/cases/{putian}/supplier-accounts",
            new { accounts = new[] { new { platform = "Made-in-China.com", accountId = "mic-shenzhen-77", displayName = "Shenzhen 77 Trading" } } })).ShouldBe(200);
        var other = await App.OpenCase(CaseApi.PutianLike("Other ring"));
        await (await investigator.PostJson($"/api/cases/{other}/supplier-accounts",
            new { accounts = new[] { new { platform = "EC21.com", accountId = "ec21-seller", displayName = "EC21 Seller" } } })).ShouldBe(200);
        await (await Finance.PostJson("/api/exchange-rates", new { date = "2011-01-20", currency = "EUR", fundCurrency = "USD", rate = 1.40m })).ShouldBe(201);

        var c1 = await App.FileClaimId(Filing(putian, "TT-1", 1400.00m, "USD", "Alibaba.com", ClaimApi.FlaggedSupplier, "2011-02-10", "US"));
        var c2 = await App.FileClaimId(Filing(putian, "TT-2", 1000.00m, "EUR", "Made-in-China.com", "mic-shenzhen-77", "2011-01-20", "DE"));
        var c3 = await App.FileClaimId(Filing(putian, "TT-3", 2000.00m, "USD", "Alibaba.com", ClaimApi.FlaggedSupplier, "2011-01-25", "GB"));
        var c4 = await App.FileClaimId(Filing(putian, "TT-4", 500.00m, "USD", "Alibaba.com", ClaimApi.FlaggedSupplier, "2011-02-20", "US"));
        var c5 = await App.FileClaimId(Filing(other, "TT-5", 800.00m, "USD", "EC21.com", "ec21-seller", "2011-02-01", "US"));

        App.Clock.Reset(Verified);
        foreach (var claim in new[] { c1, c2, c3, c4 }) (await App.Verify(claim)).GetProperty("status").GetString().ShouldBe("verified-eligible");

        App.Clock.Reset(FirstDecisions);
        await (await App.Act(App.Approver(), c1, "approval", new { })).ShouldBe(200);
        await (await App.Act(App.Approver(), c3, "rejection", new { reason = "insufficient-evidence" })).ShouldBe(200);

        // What the report said back then, asked back then (from the projection), to compare with asking later.
        App.Clock.Reset(BeforeEuroApproval);
        var backThen = await (await Finance.GetAsync($"/api/reports/paid-vs-lost?caseId={putian}&groupBy=platform")).Json();

        App.Clock.Reset(EuroApproval);
        await (await App.Act(App.Approver(), c2, "approval", new { })).ShouldBe(200);
        await (await App.Act(App.Handler(), c4, "info-requests", new { missing = new[] { "Order confirmation" } })).ShouldBe(200);
        App.Clock.Advance(Duration.FromDays(30));
        using (var scope = App.Host.Services.CreateScope())
            await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(new ClaimInformationDeadlineReached(c4, 1, EuroApproval + Duration.FromDays(30)));
        (await App.Status(c4)).ShouldBe("lapsed");

        return new Scenario(putian, other, c1, c2, c3, c4, c5, Figures(backThen));
    }

    private async Task<JsonElement> Report(string query, HttpClient? client = null)
    {
        var response = await (client ?? Finance).GetAsync("/api/reports/paid-vs-lost?" + query);
        await response.ShouldBe(200);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/json");
        return await response.Json();
    }

    private async Task<string[]> Csv(string query)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/reports/paid-vs-lost?" + query);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/csv"));
        var response = await Auditor.SendAsync(request);
        await response.ShouldBe(200);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/csv");
        return (await response.Content.ReadAsStringAsync()).Split("\r\n");
    }

    private static string At(Instant instant) => Uri.EscapeDataString(InstantPattern.ExtendedIso.Format(instant));

    /// <summary>The figures of a report, without the echo of the question (asOf).</summary>
    private static string Figures(JsonElement report) =>
        JsonSerializer.Serialize(new { groups = report.GetProperty("groups"), total = report.GetProperty("total"), fundCurrency = report.GetProperty("fundCurrency") });

    private static void ShouldBeMoney(JsonElement money, decimal amount, string currency)
    {
        money.GetProperty("amount").GetDecimal().ShouldBe(amount);
        money.GetProperty("currency").GetString().ShouldBe(currency);
    }

    private static JsonElement Group(JsonElement report, string key) =>
        report.GetProperty("groups").EnumerateArray().Single(g => g.GetProperty("key").GetString() == key).GetProperty("totals");

    [Fact]
    public async Task the_report_per_platform_gives_the_hand_computed_figures_now()
    {
        var s = await Seed();

        var report = await Report($"caseId={s.Putian}&groupBy=platform");

        report.GetProperty("groupBy").GetString().ShouldBe("platform");
        report.GetProperty("fundCurrency").GetString().ShouldBe("USD");
        report.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("key").GetString()).ShouldBe(["Alibaba.com", "Made-in-China.com"]);
        var alibaba = Group(report, "Alibaba.com");
        alibaba.GetProperty("claims").GetInt32().ShouldBe(3);
        ShouldBeMoney(alibaba.GetProperty("claimed"), 3900.00m, "USD");
        ShouldBeMoney(alibaba.GetProperty("entitled"), 980.00m, "USD");
        var madeInChina = Group(report, "Made-in-China.com");
        ShouldBeMoney(madeInChina.GetProperty("claimed"), 1400.00m, "USD"); // EUR 1,000.00 at the approval's 1.40
        madeInChina.GetProperty("claimedUnconverted").GetArrayLength().ShouldBe(0);

        var total = report.GetProperty("total");
        total.GetProperty("claims").GetInt32().ShouldBe(4);
        ShouldBeMoney(total.GetProperty("claimed"), 5300.00m, "USD");
        ShouldBeMoney(total.GetProperty("verified"), 5300.00m, "USD");
        ShouldBeMoney(total.GetProperty("entitled"), 1960.00m, "USD");
        ShouldBeMoney(total.GetProperty("paid"), 0.00m, "USD");
        ShouldBeMoney(total.GetProperty("returned"), 0.00m, "USD");
        ShouldBeMoney(total.GetProperty("outstanding"), 1960.00m, "USD");
        total.GetProperty("paidToLost").GetDecimal().ShouldBe(0m);
        var byStatus = total.GetProperty("byStatus");
        byStatus.GetProperty("approved").GetInt32().ShouldBe(2);
        byStatus.GetProperty("rejected").GetInt32().ShouldBe(1);
        byStatus.GetProperty("lapsed").GetInt32().ShouldBe(1);
        byStatus.GetProperty("filed").GetInt32().ShouldBe(0);
    }

    [Fact]
    public async Task per_month_of_payment_per_country_per_supplier_and_over_all_cases()
    {
        var s = await Seed();

        var months = await Report($"caseId={s.Putian}&groupBy=month");
        months.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("key").GetString()).ShouldBe(["2011-01", "2011-02"]);
        ShouldBeMoney(Group(months, "2011-01").GetProperty("claimed"), 3400.00m, "USD");
        ShouldBeMoney(Group(months, "2011-02").GetProperty("claimed"), 1900.00m, "USD");
        ShouldBeMoney(Group(months, "2011-02").GetProperty("entitled"), 980.00m, "USD");

        var countries = await Report($"caseId={s.Putian}&groupBy=country", Auditor);
        countries.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("key").GetString()).ShouldBe(["DE", "GB", "US"]);
        ShouldBeMoney(Group(countries, "US").GetProperty("claimed"), 1900.00m, "USD");

        var suppliers = await Report($"caseId={s.Putian}&groupBy=supplier");
        suppliers.GetProperty("groups").EnumerateArray().Select(g => g.GetProperty("key").GetString())
            .ShouldBe([$"Alibaba.com/{ClaimApi.FlaggedSupplier}", "Made-in-China.com/mic-shenzhen-77"]);

        var everything = await Report("groupBy=case");
        everything.GetProperty("groups").GetArrayLength().ShouldBe(2);
        ShouldBeMoney(everything.GetProperty("total").GetProperty("claimed"), 6100.00m, "USD");
        everything.GetProperty("total").GetProperty("byStatus").GetProperty("filed").GetInt32().ShouldBe(1);
    }

    [Fact]
    public async Task as_of_before_the_euro_approval_the_euro_loss_counts_in_euros_and_asking_later_gives_what_was_said_then()
    {
        var s = await Seed();

        var report = await Report($"caseId={s.Putian}&groupBy=platform&asOf={At(BeforeEuroApproval)}");

        report.GetProperty("asOf").GetString().ShouldBe("2011-04-11T10:30:00Z");
        var total = report.GetProperty("total");
        ShouldBeMoney(total.GetProperty("claimed"), 3900.00m, "USD");
        ShouldBeMoney(total.GetProperty("claimedUnconverted")[0], 1000.00m, "EUR");
        ShouldBeMoney(total.GetProperty("verifiedUnconverted")[0], 1000.00m, "EUR");
        ShouldBeMoney(total.GetProperty("entitled"), 980.00m, "USD");
        total.GetProperty("byStatus").GetProperty("verified-eligible").GetInt32().ShouldBe(2);
        total.GetProperty("byStatus").GetProperty("lapsed").GetInt32().ShouldBe(0);

        // Invariant 6: the same figures whether asked back then (from the projection) or today (from the events).
        Figures(report).ShouldBe(s.ReportBeforeEuroApproval);
    }

    [Fact]
    public async Task the_csv_has_the_header_and_the_hand_computed_rows_now_and_as_of_before_the_euro_approval()
    {
        var s = await Seed();
        const string header = "group,currency,claimed,verified,entitled,paid,returned,outstanding,paid_to_lost,claims,"
                              + "filed,verified-eligible,verified-ineligible,needs-review,awaiting-information,approved,rejected,under-appeal,lapsed,withdrawn";

        (await Csv($"caseId={s.Putian}&groupBy=platform")).ShouldBe(
        [
            header,
            "Alibaba.com,USD,3900.00,3900.00,980.00,0.00,0.00,980.00,0.0000,3,0,0,0,0,0,1,1,0,1,0",
            "Made-in-China.com,USD,1400.00,1400.00,980.00,0.00,0.00,980.00,0.0000,1,0,0,0,0,0,1,0,0,0,0",
            "(total),USD,5300.00,5300.00,1960.00,0.00,0.00,1960.00,0.0000,4,0,0,0,0,0,2,1,0,1,0",
            "",
        ]);

        (await Csv($"caseId={s.Putian}&groupBy=platform&asOf={At(BeforeEuroApproval)}")).ShouldBe(
        [
            header,
            "Alibaba.com,USD,3900.00,3900.00,980.00,0.00,0.00,980.00,0.0000,3,0,1,0,0,0,1,1,0,0,0",
            "Made-in-China.com,USD,0.00,0.00,0.00,0.00,0.00,0.00,,1,0,1,0,0,0,0,0,0,0,0",
            "Made-in-China.com,EUR,1000.00,1000.00,,,,,,,,,,,,,,,,",
            "(total),USD,3900.00,3900.00,980.00,0.00,0.00,980.00,0.0000,4,0,2,0,0,0,1,1,0,0,0",
            "(total),EUR,1000.00,1000.00,,,,,,,,,,,,,,,,",
            "",
        ]);
    }

    [Fact]
    public async Task the_projection_agrees_with_a_fold_of_the_whole_event_log()
    {
        var s = await Seed();
        // Every other kind of claim event too: an appeal granted, a withdrawal, an erasure (which changes no figure).
        await (await App.Act(App.Handler(), s.C3, "appeal", new { grounds = "The bank confirmed the transfer." })).ShouldBe(200);
        await (await App.Act(App.Approver("olga"), s.C3, "appeal-decision", new { outcome = "grant" })).ShouldBe(200);
        await (await App.Act(App.Handler(), s.C5, "withdrawal", new { reason = "The buyer was refunded by the bank." })).ShouldBe(200);
        await (await App.Act(App.Handler(), s.C1, "buyer-erasure", new { })).ShouldBe(200);
        var total = (await Report($"caseId={s.Putian}")).GetProperty("total");
        ShouldBeMoney(total.GetProperty("entitled"), 2960.00m, "USD"); // + min(70% x 2,000.00, 1,000.00)
        total.GetProperty("byStatus").GetProperty("approved").GetInt32().ShouldBe(3);
        ShouldBeMoney(total.GetProperty("claimed"), 5300.00m, "USD");
        (await Report($"caseId={s.Other}")).GetProperty("total").GetProperty("byStatus").GetProperty("withdrawn").GetInt32().ShouldBe(1);

        await using var session = App.Store.QuerySession();
        var projected = await ClaimTotalsSource.Now(session, null, CancellationToken.None);
        var events = await session.Events.QueryAllRawEvents().OrderBy(e => e.Sequence).ToListAsync();
        var folded = ClaimTotalsLine.Fold(events.Select(e => e.Data));

        projected.Count.ShouldBe(5);
        projected.OrderBy(l => l.Id).ShouldBe(folded.OrderBy(l => l.Id));
        // And its statuses are the claims' own.
        var claims = await session.Query<Claim>().ToListAsync();
        projected.Select(l => (l.Id, l.Status)).OrderBy(x => x.Id).ShouldBe(claims.Select(c => (c.Id, c.Status)).OrderBy(x => x.Id));

        // Now (projection) and as of now (fold) are the same report.
        foreach (var by in new[] { "platform", "supplier", "country", "month", "case" })
        {
            var now = await Report($"groupBy={by}");
            var asOfNow = await Report($"groupBy={by}&asOf={At(App.Clock.GetCurrentInstant())}");
            Figures(asOfNow).ShouldBe(Figures(now), by);
        }
    }

    [Fact]
    public async Task over_http_the_rollup_gives_the_same_json_and_csv_before_and_after_it_absorbs_and_a_decision_shows_at_once()
    {
        var s = await Seed();
        string[] queries = [$"caseId={s.Putian}&groupBy=platform", $"caseId={s.Putian}&groupBy=supplier", "groupBy=month", "groupBy=country", "groupBy=case", ""];
        async Task<List<string>> Answers()
        {
            var answers = new List<string>();
            foreach (var query in queries)
            {
                answers.Add(Figures(await Report(query)));
                answers.Add(string.Join("\r\n", await Csv(query)));
            }
            return answers;
        }
        async Task<List<string>> FromClaimRows()
        {
            await using var session = App.Store.QuerySession();
            var answers = new List<string>();
            foreach (var (caseId, grouping) in new (Guid?, PaidVsLostGrouping?)[] { (s.Putian, PaidVsLostGrouping.Platform), (null, PaidVsLostGrouping.Case), (null, null) })
            {
                var fromRollup = await ClaimTotalsSql.ReportAsync(session, caseId, grouping, "USD", CancellationToken.None);
                var fromRows = await ClaimTotalsSql.ReportAsync(session, caseId, grouping, "USD", CancellationToken.None, claimRows: true);
                PaidVsLost.ToCsv(fromRollup!).ShouldBe(PaidVsLost.ToCsv(fromRows!));
                answers.Add(PaidVsLost.ToCsv(fromRows!));
            }
            return answers;
        }

        // Nothing absorbed yet (the test host's writer is off): every change row is the tail.
        var tailOnly = await Answers();
        await FromClaimRows();
        (await ClaimTotalsRollup.AdvanceAsync(App.Store, CancellationToken.None)).RollupRows.ShouldBeGreaterThan(0);
        (await Answers()).ShouldBe(tailOnly);

        // A decision right after the advance is in the next answer (the tail), as in the claims' rows.
        Group(await Report("groupBy=case"), s.Other.ToString()).GetProperty("byStatus").GetProperty("filed").GetInt32().ShouldBe(1);
        await App.Verify(s.C5);
        Group(await Report("groupBy=case"), s.Other.ToString()).GetProperty("byStatus").GetProperty("filed").GetInt32().ShouldBe(0);
        await FromClaimRows();
        var decided = await Answers();
        decided.ShouldNotBe(tailOnly);
        await ClaimTotalsRollup.AdvanceAsync(App.Store, CancellationToken.None);
        (await Answers()).ShouldBe(decided);
        await FromClaimRows();
    }

    [Fact]
    public async Task rebuilding_the_totals_projection_gives_identical_reports()
    {
        var s = await Seed();
        var queries = new[] { $"caseId={s.Putian}&groupBy=platform", $"caseId={s.Putian}&groupBy=month", "groupBy=country" };
        var before = new List<string>();
        foreach (var query in queries) before.Add(Figures(await Report(query)));
        var caseBefore = (await App.GetCase(s.Putian, Roles.Auditor)).GetProperty("totals").GetRawText();

        // Lose the read model entirely, then rebuild it from the events, as `rebuild ClaimTotals` does.
        await using (var wipe = App.Store.LightweightSession())
        {
            foreach (var table in ClaimTotalsProjection.Tables) wipe.QueueSqlCommand($"delete from {LedgerSetup.Schema}.{table}");
            await wipe.SaveChangesAsync();
        }
        (await Report(queries[0])).GetProperty("total").GetProperty("claims").GetInt32().ShouldBe(0);
        await LedgerRebuild.RebuildAsync(App.Store, ClaimTotalsProjection.ProjectionName, TimeSpan.FromMinutes(1), null, CancellationToken.None);

        for (var i = 0; i < queries.Length; i++) Figures(await Report(queries[i])).ShouldBe(before[i], queries[i]);
        (await App.GetCase(s.Putian, Roles.Auditor)).GetProperty("totals").GetRawText().ShouldBe(caseBefore);
    }

    [Fact]
    public async Task the_totals_rebuild_reads_a_verification_without_its_checks_and_the_rest_of_every_event_as_stored()
    {
        await Seed();
        var verified = ((Marten.Events.EventGraph)((StoreOptions)App.Store.Options).Events).EventMappingFor(typeof(ClaimVerified)).EventTypeName;
        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand($"""
            select type = @verified, jsonb_array_length(data -> 'checks'), read -> 'checks' = '[]'::jsonb, (read - 'checks') = (data - 'checks')
            from (select type, data, {ClaimTotalsRebuild.TotalsData(verified)} as read from {LedgerSetup.Schema}.mt_events) e
            """, connection);
        command.Parameters.AddWithValue("verified", verified);
        await using var reader = await command.ExecuteReaderAsync();
        var verifications = 0;
        while (await reader.ReadAsync())
        {
            reader.GetBoolean(3).ShouldBeTrue("every field but a verification's checks is read as stored");
            if (!reader.GetBoolean(0)) continue;
            verifications++;
            reader.GetInt32(1).ShouldBeGreaterThan(0);
            reader.GetBoolean(2).ShouldBeTrue("a verification's checks are read as an empty list");
        }
        verifications.ShouldBeGreaterThan(0);
    }

    [Fact]
    public async Task the_totals_rebuilt_while_claims_are_filed_and_decided_over_http_count_every_decision_and_keep_taking_them_after_the_swap()
    {
        var putian = await App.OpenFlaggedCase();
        var claims = new List<Guid>();
        async Task File(int n)
        {
            for (var i = 0; i < n; i++)
                claims.Add(await App.FileClaimId(ClaimApi.Filing(putian, paymentReference: $"TT-R-{claims.Count}", amount: 100.00m + claims.Count)));
        }
        // Enough filings that the service's statements are prepared (Npgsql auto-prepares repeated ones) before the tables are swapped.
        await File(12);
        var decided = 0;
        async Task Decide(int n)
        {
            for (var i = 0; i < n; i++, decided++)
            {
                var claim = claims[decided];
                await App.Verify(claim);
                if (decided % 2 == 0) await (await App.Act(App.Approver(), claim, "approval", new { })).ShouldBe(200);
            }
        }

        Task? waiting = null;
        var result = await ClaimTotalsRebuild.RunWithPhasesAsync(App.Store, async phase =>
        {
            switch (phase)
            {
                case ClaimTotalsRebuild.Phase.TablesCreated: await Decide(3); await File(2); break;
                case ClaimTotalsRebuild.Phase.FirstPassDone: await Decide(3); await File(2); break;
                case ClaimTotalsRebuild.Phase.ClaimRowsWritten: await Decide(2); break;
                case ClaimTotalsRebuild.Phase.LiveTablesLocked:
                    // A verification arriving during the swap waits for it, then lands on the new tables.
                    waiting = Decide(1);
                    for (var tries = 0; tries < 200 && !await AWriterWaitsForTheTotals(); tries++) await Task.Delay(50);
                    (await AWriterWaitsForTheTotals()).ShouldBeTrue();
                    break;
            }
        }, CancellationToken.None);
        await waiting!;
        result.Claims.ShouldBeGreaterThanOrEqualTo(12);

        // After the swap the service goes on deciding on the new tables, with its prepared statements.
        await File(2);
        await Decide(claims.Count - decided);

        await using var session = App.Store.QuerySession();
        var events = (await session.Events.QueryAllRawEvents().OrderBy(e => e.Sequence).ToListAsync()).Select(e => e.Data).ToList();
        var rows = await ClaimTotalsSource.Now(session, putian, CancellationToken.None);
        rows.OrderBy(l => l.Id).ShouldBe(ClaimTotalsLine.Fold(events).Where(l => l.CaseId == putian).OrderBy(l => l.Id));
        rows.Count.ShouldBe(claims.Count);
        rows.Count(l => l.Status == ClaimStatus.Approved).ShouldBe((claims.Count + 1) / 2);
        var report = Figures(await Report($"caseId={putian}&groupBy=month"));

        // A quiet rebuild gives the same report.
        await LedgerRebuild.RebuildAsync(App.Store, ClaimTotalsProjection.ProjectionName, TimeSpan.FromMinutes(1), null, CancellationToken.None);
        Figures(await Report($"caseId={putian}&groupBy=month")).ShouldBe(report);
    }

    private async Task<bool> AWriterWaitsForTheTotals()
    {
        await using var session = App.Store.QuerySession();
        var waiting = await session.AdvancedSql.QueryAsync<long>(
            $"select count(*) from pg_locks where not granted and relation in ('{LedgerSetup.Schema}.{ClaimTotalsProjection.ClaimsTable}'::regclass, '{LedgerSetup.Schema}.{ClaimTotalsProjection.ChangesTable}'::regclass)",
            CancellationToken.None);
        return waiting.Single() > 0;
    }

    [Fact]
    public async Task case_detail_shows_its_totals_beside_the_fields_it_always_had()
    {
        var s = await Seed();

        var detail = await App.GetCase(s.Putian, Roles.Finance);

        detail.GetProperty("title").GetString().ShouldBe("Putian ring");
        detail.GetProperty("supplierAccountCount").GetInt32().ShouldBe(3);
        var totals = detail.GetProperty("totals");
        totals.GetProperty("claims").GetInt32().ShouldBe(4);
        ShouldBeMoney(totals.GetProperty("claimed"), 5300.00m, "USD");
        ShouldBeMoney(totals.GetProperty("verified"), 5300.00m, "USD");
        ShouldBeMoney(totals.GetProperty("entitled"), 1960.00m, "USD");
        ShouldBeMoney(totals.GetProperty("paid"), 0m, "USD");
        ShouldBeMoney(totals.GetProperty("returned"), 0m, "USD");
        ShouldBeMoney(totals.GetProperty("outstanding"), 1960.00m, "USD");
        totals.GetProperty("paidToLost").GetDecimal().ShouldBe(0m);
        totals.GetProperty("byStatus").GetProperty("approved").GetInt32().ShouldBe(2);

        var empty = await App.GetCase(await App.OpenCase(CaseApi.PutianLike("Quiet case")));
        empty.GetProperty("totals").GetProperty("claims").GetInt32().ShouldBe(0);
        empty.GetProperty("totals").GetProperty("paidToLost").ValueKind.ShouldBe(JsonValueKind.Null);
    }

    [Fact]
    public async Task the_chart_is_well_formed_svg_with_one_bar_pair_per_group()
    {
        var s = await Seed();

        foreach (var (by, keys) in new[] { ("platform", new[] { "Alibaba.com", "Made-in-China.com" }), ("month", new[] { "2011-01", "2011-02" }) })
        {
            var response = await Auditor.GetAsync($"/api/reports/paid-vs-lost.svg?caseId={s.Putian}&groupBy={by}");
            await response.ShouldBe(200);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("image/svg+xml");
            var svg = XDocument.Parse(await response.Content.ReadAsStringAsync());
            XNamespace ns = "http://www.w3.org/2000/svg";
            svg.Root!.Name.ShouldBe(ns + "svg");
            svg.Root.Element(ns + "title")!.Value.ShouldBe($"Paid versus lost per {by}: Putian ring");
            svg.Root.Element(ns + "desc")!.Value.ShouldContain("5300.00 USD lost");
            var pairs = svg.Descendants(ns + "g").Where(g => (string?)g.Attribute("class") == "bar-pair").ToList();
            pairs.Select(g => (string?)g.Attribute("data-group")).ShouldBe(keys);
            pairs.ShouldAllBe(g => g.Elements(ns + "rect").Count() == 2);
        }
        var alibaba = XDocument.Parse(await Auditor.GetStringAsync($"/api/reports/paid-vs-lost.svg?caseId={s.Putian}&groupBy=platform"));
        alibaba.Descendants().Where(e => e.Name.LocalName == "title").Select(e => e.Value).ShouldContain("Alibaba.com: 3900.00 USD lost");
    }

    [Fact]
    public async Task bad_query_input_is_a_problem_naming_the_field_and_only_finance_and_auditors_may_read()
    {
        var s = await Seed();

        (await (await Finance.GetAsync($"/api/reports/paid-vs-lost?caseId={s.Putian}&groupBy=vendor")).ShouldBeProblem(400)).ErrorFields().ShouldBe(["groupBy"]);
        (await (await Finance.GetAsync($"/api/reports/paid-vs-lost?caseId={s.Putian}&asOf=yesterday")).ShouldBeProblem(400)).ErrorFields().ShouldBe(["asOf"]);
        (await (await Finance.GetAsync($"/api/reports/paid-vs-lost?caseId={s.Putian}&asOf=2011-04-11")).ShouldBeProblem(400)).ErrorFields().ShouldBe(["asOf"]);
        (await (await Finance.GetAsync("/api/reports/paid-vs-lost?caseId=putian")).ShouldBeProblem(400)).ErrorFields().ShouldBe(["caseId"]);
        (await (await Finance.GetAsync($"/api/reports/paid-vs-lost?caseId={Guid.NewGuid()}&groupBy=platform")).ShouldBeProblem(404))
            .GetProperty("code").GetString().ShouldBe("not-found");
        (await (await Finance.GetAsync($"/api/reports/paid-vs-lost.svg?caseId={s.Putian}&groupBy=country")).ShouldBeProblem(400)).ErrorFields().ShouldBe(["groupBy"]);
        (await (await Finance.GetAsync($"/api/reports/paid-vs-lost.svg?caseId={s.Putian}")).ShouldBeProblem(400)).ErrorFields().ShouldBe(["groupBy"]);

        await (await App.Handler().GetAsync($"/api/reports/paid-vs-lost?caseId={s.Putian}")).ShouldBeProblem(403);
        await (await App.Approver().GetAsync($"/api/reports/paid-vs-lost.svg?caseId={s.Putian}&groupBy=month")).ShouldBeProblem(403);
        await (await App.Client().GetAsync($"/api/reports/paid-vs-lost?caseId={s.Putian}")).ShouldBeProblem(401);
    }
}
