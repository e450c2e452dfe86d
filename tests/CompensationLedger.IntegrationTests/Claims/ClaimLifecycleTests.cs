using System.Text.Json;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using NodaTime;
using Npgsql;
using Wolverine;

namespace CompensationLedger.IntegrationTests.Claims;

public sealed class ClaimLifecycleTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task a_putian_claim_is_filed_verified_asked_for_information_answered_and_approved_at_seventy_percent()
    {
        var caseId = await App.OpenFlaggedCase();

        var filed = await App.FileClaim(ClaimApi.Filing(caseId));
        var claimId = filed.GetProperty("id").GetGuid();
        var reference = filed.GetProperty("reference").GetString()!;
        reference.ShouldStartWith("CL-2011-");
        ClaimReferences.IsValid(reference).ShouldBeTrue();
        var accessCode = filed.GetProperty("accessCode").GetString()!;
        accessCode.Replace("-", "", StringComparison.Ordinal).Length.ShouldBe(24);

        App.Clock.Advance(Duration.FromHours(2));
        var verified = await App.Verify(claimId);
        verified.GetProperty("status").GetString().ShouldBe("verified-eligible");
        var checks = verified.GetProperty("lastVerification").GetProperty("checks").EnumerateArray().ToList();
        checks.Count.ShouldBe(8);
        checks.ShouldAllBe(c => c.GetProperty("outcome").GetString() == "passed");
        checks.Single(c => c.GetProperty("check").GetString() == "supplier-account-flagged").GetProperty("evidence").GetString()!
            .ShouldContain(ClaimApi.FlaggedSupplier);

        App.Clock.Advance(Duration.FromDays(1));
        var asked = await App.Act(App.Handler(), claimId, "info-requests", new { missing = new[] { "The bank's transfer confirmation" } });
        await asked.ShouldBe(200);
        var waiting = await asked.Json();
        waiting.GetProperty("status").GetString().ShouldBe("awaiting-information");
        waiting.GetProperty("openRequest").GetProperty("deadline").GetString().ShouldBe("2011-05-12T10:00:00Z");
        (await ScheduledDeadlines()).ShouldBe(1);

        App.Clock.Advance(Duration.FromDays(10));
        var answered = await App.Act(App.Handler(), claimId, "info-responses",
            new { response = "Confirmation attached.", evidence = new[] { new { name = "confirmation.pdf", sha256 = new string('b', 64) } } });
        await answered.ShouldBe(200);
        (await answered.Json()).GetProperty("status").GetString().ShouldBe("verified-eligible");

        var approved = await App.Act(App.Approver(), claimId, "approval", new { note = "Matches the police list." });
        await approved.ShouldBe(200);
        approved.Headers.ETag!.Tag.ShouldBe("\"5\"");
        var claim = await approved.Json();
        claim.GetProperty("status").GetString().ShouldBe("approved");
        var entitlement = claim.GetProperty("entitlement");
        entitlement.GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(980.00m);
        entitlement.GetProperty("entitlement").GetProperty("currency").GetString().ShouldBe("USD");
        entitlement.GetProperty("policyVersion").GetString().ShouldBe("config-1");

        var history = await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/claims/{claimId}/history")).Json();
        var events = history.GetProperty("events").EnumerateArray().ToList();
        events.Select(e => e.GetProperty("event").GetString()).ShouldBe(
            ["ClaimFiled", "ClaimVerified", "ClaimInformationRequested", "ClaimInformationProvided", "ClaimApproved"]);
        events.Select(e => e.GetProperty("actor").GetString()).ShouldBe(["hana", "hana", "hana", "hana", "abe"]);
        events[0].GetProperty("at").GetString().ShouldBe("2011-04-11T08:00:00Z");
        events[4].GetProperty("statusBefore").GetString().ShouldBe("verified-eligible");
        events[4].GetProperty("statusAfter").GetString().ShouldBe("approved");
        events[4].GetProperty("summary").GetString()!.ShouldContain("980.00 USD");

        // No event carries the buyer's personal data or the access code; the buyer document does, for claims staff.
        await using (var session = App.Store.QuerySession())
        {
            var raw = await Marten.QueryableExtensions.ToListAsync(session.Events.QueryAllRawEvents());
            var json = string.Join("\n", raw.Select(e => JsonSerializer.Serialize(e.Data, e.Data.GetType())));
            json.ShouldNotContain("Jane Buyer");
            json.ShouldNotContain("jane@example.com");
            json.ShouldNotContain(accessCode);
        }
        var buyer = await (await App.Handler().GetAsync($"/api/claims/{claimId}/buyer")).Json();
        buyer.GetProperty("name").GetString().ShouldBe("Jane Buyer");
        await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/claims/{claimId}/buyer")).ShouldBeProblem(403);
    }

    [Fact]
    public async Task the_same_payment_is_caught_on_another_platform_and_refused_with_the_existing_reference()
    {
        var caseId = await App.OpenFlaggedCase();
        var first = await App.FileClaim(ClaimApi.Filing(caseId, paymentReference: "TT 2011 0042"));
        var events = await App.EventCount();

        var samePaymentReference = await App.Handler().PostJson("/api/claims",
            ClaimApi.Filing(caseId, paymentReference: "tt-2011-0042", platform: "EC21.com", supplier: "someone-else"));
        var problem = await samePaymentReference.ShouldBeProblem(409);
        problem.GetProperty("code").GetString().ShouldBe("duplicate-claim");
        problem.GetProperty("existingReference").GetString().ShouldBe(first.GetProperty("reference").GetString());

        var sameBuyerSupplierAmountDate = await App.Handler().PostJson("/api/claims", ClaimApi.Filing(caseId, paymentReference: "ANOTHER-REF", buyer: "JANE  buyer"));
        (await sameBuyerSupplierAmountDate.ShouldBeProblem(409)).GetProperty("matchedOn").GetString().ShouldBe("buyer-supplier-amount-date");

        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task a_claim_against_a_supplier_on_a_platform_the_fund_does_not_pay_counts_in_the_cases_losses_but_is_ineligible()
    {
        var caseId = await App.OpenFlaggedCase();
        await App.FileClaimId(ClaimApi.Filing(caseId, paymentReference: "A-1", amount: 1400.00m));
        var ecplaza = await App.FileClaimId(ClaimApi.Filing(caseId, paymentReference: "E-1", amount: 600.00m, platform: "ecplaza.net", supplier: ClaimApi.FlaggedEcplazaSupplier));

        var verified = await App.Verify(ecplaza);
        verified.GetProperty("status").GetString().ShouldBe("verified-ineligible");
        verified.GetProperty("lastVerification").GetProperty("reasons").EnumerateArray().Select(r => r.GetString()).ShouldBe(["platform-eligible-for-fund"]);

        var list = await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/claims?caseId={caseId}")).Json();
        list.GetProperty("totalCount").GetInt64().ShouldBe(2);
        var claimed = list.GetProperty("claimedLoss").EnumerateArray().Single();
        claimed.GetProperty("amount").GetDecimal().ShouldBe(2000.00m);

        var ineligible = await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/claims?caseId={caseId}&status=verified-ineligible&platform=ECPLAZA.NET&country=us")).Json();
        ineligible.GetProperty("items").EnumerateArray().Single().GetProperty("id").GetGuid().ShouldBe(ecplaza);

        var approve = await App.Act(App.Approver(), ecplaza, "approval", new { });
        (await approve.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("claim-ineligible");
        var reject = await App.Act(App.Approver(), ecplaza, "rejection", new { reason = "platform-not-eligible" });
        await reject.ShouldBe(200);
        (await reject.Json()).GetProperty("rejectionReason").GetString().ShouldBe("platform-not-eligible");
    }

    [Fact]
    public async Task a_filing_after_the_ninety_day_window_is_refused_and_records_nothing()
    {
        var caseId = await App.OpenFlaggedCase();
        App.Clock.Reset(Instant.FromUtc(2011, 5, 12, 0, 0)); // payment 2011-02-10 + 90 days = 2011-05-11
        var events = await App.EventCount();

        var late = await App.Handler().PostJson("/api/claims", ClaimApi.Filing(caseId));

        var problem = await late.ShouldBeProblem(409);
        problem.GetProperty("code").GetString().ShouldBe("filing-window-closed");
        problem.GetProperty("lastFilingDay").GetString().ShouldBe("2011-05-11");
        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task an_unanswered_request_lapses_the_claim_when_the_durably_scheduled_deadline_message_arrives()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId));
        await App.Verify(claimId);
        await (await App.Act(App.Handler(), claimId, "info-requests", new { missing = new[] { "Order confirmation" } })).ShouldBe(200);

        // The lapse waits in Wolverine's durable envelope storage (it survives a restart), due in 30 days.
        (await ScheduledDeadlines()).ShouldBe(1);
        var due = new ClaimInformationDeadlineReached(claimId, 1, LedgerApp.Start + Duration.FromDays(30));

        // Arriving early (by the ledger's clock) it does nothing.
        App.Clock.Advance(Duration.FromDays(29));
        await Deliver(due);
        (await App.Status(claimId)).ShouldBe("awaiting-information");

        App.Clock.Advance(Duration.FromDays(1));
        await Deliver(due);

        var claim = await App.GetClaim(claimId);
        claim.GetProperty("status").GetString().ShouldBe("lapsed");
        var history = await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/claims/{claimId}/history")).Json();
        var last = history.GetProperty("events").EnumerateArray().Last();
        last.GetProperty("event").GetString().ShouldBe("ClaimLapsed");
        last.GetProperty("actor").GetString().ShouldBe("system");

        var tooLate = await App.Act(App.Handler(), claimId, "info-responses", new { response = "Here it is." });
        (await tooLate.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("claim-lapsed");
    }

    [Fact]
    public async Task the_stored_deadline_message_fires_by_itself_when_due_and_lapses_the_claim()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId));
        await App.Verify(claimId);
        await (await App.Act(App.Handler(), claimId, "info-requests", new { missing = new[] { "Order confirmation" } })).ShouldBe(200);
        App.Clock.Advance(Duration.FromDays(30));

        // Thirty days pass: the ledger's clock is moved, and the stored envelope is made due as the wall clock would make it.
        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var due = new NpgsqlCommand(
                $"update {LedgerSetup.WolverineSchema}.wolverine_incoming_envelopes set execution_time = now() where status = 'Scheduled' and message_type ilike '%deadlinereached%'",
                connection);
            (await due.ExecuteNonQueryAsync()).ShouldBe(1);
        }

        var status = "";
        for (var waited = 0; waited < 60 && status != "lapsed"; waited++)
        {
            await Task.Delay(500);
            status = await App.Status(claimId);
        }
        status.ShouldBe("lapsed");
    }

    [Fact]
    public async Task an_answer_before_the_deadline_means_the_deadline_message_changes_nothing()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId));
        await App.Verify(claimId);
        await (await App.Act(App.Handler(), claimId, "info-requests", new { missing = new[] { "Order confirmation" } })).ShouldBe(200);
        await (await App.Act(App.Handler(), claimId, "info-responses", new { response = "Attached." })).ShouldBe(200);
        var events = await App.EventCount();

        App.Clock.Advance(Duration.FromDays(31));
        await Deliver(new ClaimInformationDeadlineReached(claimId, 1, LedgerApp.Start + Duration.FromDays(30)));

        (await App.Status(claimId)).ShouldBe("verified-eligible");
        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task a_loss_in_euros_is_approved_at_the_rate_finance_recorded_and_without_a_rate_approval_is_refused()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId, amount: 1000.00m, currency: "EUR"));
        await App.Verify(claimId);

        var noRate = await App.Act(App.Approver(), claimId, "approval", new { });
        (await noRate.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("no-exchange-rate");

        var finance = App.Client("fin", Roles.Finance);
        await (await finance.PostJson("/api/exchange-rates", new { date = "2011-02-10", currency = "EUR", fundCurrency = "USD", rate = 1.3945m })).ShouldBe(201);
        var again = await finance.PostJson("/api/exchange-rates", new { date = "2011-02-10", currency = "EUR", fundCurrency = "USD", rate = 1.5m });
        (await again.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("rate-already-recorded");
        var rates = await (await finance.GetAsync("/api/exchange-rates?currency=EUR&date=2011-02-10")).Json();
        rates.GetProperty("items").EnumerateArray().Single().GetProperty("rate").GetDecimal().ShouldBe(1.3945m);

        var approved = await App.Act(App.Approver(), claimId, "approval", new { });
        await approved.ShouldBe(200);
        var computation = (await approved.Json()).GetProperty("entitlement");
        computation.GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(976.15m);
        computation.GetProperty("rate").GetProperty("rate").GetDecimal().ShouldBe(1.3945m);
        computation.GetProperty("rate").GetProperty("date").GetString().ShouldBe("2011-02-10");
    }

    [Fact]
    public async Task a_rejection_is_appealed_by_a_handler_and_granted_by_another_approver()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId, amount: 2000.00m));
        await App.Verify(claimId);
        await (await App.Act(App.Approver("abe"), claimId, "rejection", new { reason = "insufficient-evidence" })).ShouldBe(200);
        App.Clock.Advance(Duration.FromDays(10));
        await (await App.Act(App.Handler(), claimId, "appeal", new { grounds = "The police list names the supplier." })).ShouldBe(200);

        var byRejecter = await App.Act(App.Approver("abe"), claimId, "appeal-decision", new { outcome = "grant" });
        (await byRejecter.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("four-eyes");

        var granted = await App.Act(App.Approver("olga"), claimId, "appeal-decision", new { outcome = "grant" });
        await granted.ShouldBe(200);
        var claim = await granted.Json();
        claim.GetProperty("status").GetString().ShouldBe("approved");
        claim.GetProperty("entitlement").GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(1000.00m);

        var withdraw = await App.Act(App.Handler(), claimId, "withdrawal", new { reason = "changed mind" });
        (await withdraw.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("claim-approved");
    }

    [Fact]
    public async Task an_open_claim_is_withdrawn_and_then_nothing_more_happens_to_it()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId));

        await (await App.Act(App.Handler(), claimId, "withdrawal", new { reason = "Refunded by the bank." })).ShouldBe(200);

        (await App.Status(claimId)).ShouldBe("withdrawn");
        var verify = await App.Act(App.Handler(), claimId, "verification", new { });
        (await verify.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("claim-withdrawn");
    }

    private async Task Deliver(ClaimInformationDeadlineReached message)
    {
        using var scope = App.Host.Services.CreateScope();
        await scope.ServiceProvider.GetRequiredService<IMessageBus>().InvokeAsync(message);
    }

    private async Task<long> ScheduledDeadlines()
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select count(*) from {LedgerSetup.WolverineSchema}.wolverine_incoming_envelopes where status = 'Scheduled' and message_type ilike '%deadlinereached%' and execution_time > now() + interval '29 days'",
            connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
