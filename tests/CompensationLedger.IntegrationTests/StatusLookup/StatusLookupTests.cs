using System.Text.Json;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Claims;
using CompensationLedger.IntegrationTests.Infrastructure;
using NodaTime;

namespace CompensationLedger.IntegrationTests.StatusLookup;

public sealed class StatusLookupTests(LedgerApp app) : IntegrationTest(app)
{
    private static string[] Titles(JsonElement status) =>
        status.GetProperty("timeline").EnumerateArray().Select(t => t.GetProperty("title").GetString()!).ToArray();

    [Fact]
    public async Task a_filed_claim_is_received_and_says_what_happens_next()
    {
        var caseId = await App.OpenFlaggedCase();
        var buyer = await App.FileForBuyer(caseId);

        var status = await App.Status(buyer);

        status.GetProperty("reference").GetString().ShouldBe(buyer.Reference);
        status.GetProperty("status").GetString().ShouldBe("filed");
        status.GetProperty("headline").GetString().ShouldBe("Received");
        status.GetProperty("amountClaimed").GetProperty("amount").GetDecimal().ShouldBe(1400.00m);
        status.GetProperty("paidToAccount").GetString().ShouldBe("••••7919");
        Titles(status).ShouldBe(["Claim received"]);
        status.GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBe(0m);
    }

    [Fact]
    public async Task an_information_request_shows_what_is_missing_and_by_when_and_the_buyer_can_answer_it()
    {
        var caseId = await App.OpenFlaggedCase();
        var buyer = await App.FileForBuyer(caseId);
        await App.Verify(buyer.ClaimId);
        await (await App.Act(App.Handler(), buyer.ClaimId, "info-requests", new { missing = new[] { "Order confirmation", "Bank transfer receipt" } })).ShouldBe(200);

        var waiting = await App.Status(buyer);
        waiting.GetProperty("status").GetString().ShouldBe("awaiting-information");
        waiting.GetProperty("missing").GetProperty("items").EnumerateArray().Select(i => i.GetString()).ShouldBe(["Order confirmation", "Bank transfer receipt"]);
        waiting.GetProperty("missing").GetProperty("deadline").GetString().ShouldBe("2011-05-11T08:00:00Z");
        waiting.GetProperty("nextStep").GetString()!.ShouldContain("2011-05-11 08:00 UTC");

        App.Clock.Advance(Duration.FromDays(3));
        var answered = await App.Client().PostJson("/api/status-lookups/info-responses", new
        {
            reference = buyer.Reference,
            accessCode = buyer.AccessCode,
            response = "Attached the order confirmation and the receipt.",
            evidence = new[] { new { name = "order.pdf", sha256 = new string('b', 64) } },
        });
        await answered.ShouldBe(200);
        var after = await answered.Json();
        after.GetProperty("status").GetString().ShouldBe("verified-eligible");
        after.TryGetProperty("missing", out var missing).ShouldBeTrue();
        missing.ValueKind.ShouldBe(JsonValueKind.Null);
        Titles(after).ShouldBe(["Claim received", "Claim checked", "Information requested", "Information received"]);
        // The answer builds the status from the claim it just updated and its stream read by id; a lookup reads the claim, its events and
        // its payments by reference in one round trip: the same status, to the byte.
        (await App.Status(buyer)).GetRawText().ShouldBe(after.GetRawText());

        // Recorded on the claim like a staff-entered answer.
        var history = await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/claims/{buyer.ClaimId}/history")).Json();
        var last = history.GetProperty("events").EnumerateArray().Last();
        last.GetProperty("event").GetString().ShouldBe("ClaimInformationProvided");
        last.GetProperty("actor").GetString().ShouldBe("buyer (status page)");

        var again = await App.Client().PostJson("/api/status-lookups/info-responses", new { reference = buyer.Reference, accessCode = buyer.AccessCode, response = "More." });
        (await again.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("no-open-request");
    }

    [Fact]
    public async Task an_approved_claim_shows_the_entitlement_and_how_it_was_computed()
    {
        var caseId = await App.OpenFlaggedCase();
        var buyer = await App.FileForBuyer(caseId, amount: 2000.00m);
        await App.Verify(buyer.ClaimId);
        await (await App.Act(App.Approver(), buyer.ClaimId, "approval", new { note = "internal: checked with trust & safety" })).ShouldBe(200);

        var status = await App.Status(buyer);

        status.GetProperty("status").GetString().ShouldBe("approved");
        var entitlement = status.GetProperty("entitlement");
        entitlement.GetProperty("amount").GetProperty("amount").GetDecimal().ShouldBe(1000.00m);
        entitlement.GetProperty("howComputed").GetString()!.ShouldContain("70%");
        entitlement.GetProperty("howComputed").GetString()!.ShouldContain("at most 1,000.00 USD");
        Titles(status).ShouldBe(["Claim received", "Claim checked", "Claim approved"]);

        var text = status.GetRawText();
        text.ShouldNotContain("abe");                    // the approver
        text.ShouldNotContain("hana");                   // the handler
        text.ShouldNotContain("internal");               // the approver's note
        text.ShouldNotContain("Jane Buyer");             // even the buyer's own name is not needed here
        text.ShouldNotContain("6222340200007919");       // the full account number
    }

    [Fact]
    public async Task a_rejected_claim_gives_the_reason_in_plain_words_and_the_appeal_deadline()
    {
        var caseId = await App.OpenFlaggedCase();
        var buyer = await App.FileForBuyer(caseId);
        await App.Verify(buyer.ClaimId);
        await (await App.Act(App.Approver(), buyer.ClaimId, "rejection", new { reason = "insufficient-evidence", note = "looks staged" })).ShouldBe(200);

        var status = await App.Status(buyer);

        status.GetProperty("status").GetString().ShouldBe("rejected");
        status.GetProperty("explanation").GetString().ShouldBe("The evidence we have is not enough to show the loss.");
        status.GetProperty("nextStep").GetString()!.ShouldContain("You may appeal until 2011-06-10 08:00 UTC");
        status.GetRawText().ShouldNotContain("looks staged");

        await (await App.Act(App.Handler(), buyer.ClaimId, "appeal", new { grounds = "New evidence from the bank" })).ShouldBe(200);
        var appealed = await App.Status(buyer);
        appealed.GetProperty("status").GetString().ShouldBe("under-appeal");
        appealed.GetRawText().ShouldNotContain("New evidence from the bank");
    }

    [Fact]
    public async Task ineligible_review_lapsed_and_withdrawn_claims_each_say_so()
    {
        var caseId = await App.OpenFlaggedCase();

        var ineligible = await App.FileForBuyer(caseId, "TT-EP-1", platform: "ECPLAZA.net", supplier: ClaimApi.FlaggedEcplazaSupplier);
        await App.Verify(ineligible.ClaimId);
        var ineligibleStatus = await App.Status(ineligible);
        ineligibleStatus.GetProperty("status").GetString().ShouldBe("verified-ineligible");
        ineligibleStatus.GetProperty("explanation").GetString()!.ShouldContain("The fund does not cover purchases on this platform.");

        var withdrawn = await App.FileForBuyer(caseId, "TT-W-1", amount: 500m);
        await (await App.Act(App.Handler(), withdrawn.ClaimId, "withdrawal", new { reason = "Buyer was refunded by the bank" })).ShouldBe(200);
        (await App.Status(withdrawn)).GetProperty("status").GetString().ShouldBe("withdrawn");

        var lapsed = await App.FileForBuyer(caseId, "TT-L-1", amount: 700m);
        await App.Verify(lapsed.ClaimId);
        await (await App.Act(App.Handler(), lapsed.ClaimId, "info-requests", new { missing = new[] { "Invoice" } })).ShouldBe(200);
        App.Clock.Advance(Duration.FromDays(31));
        using (var scope = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.CreateScope(App.Host.Services))
        {
            var bus = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Wolverine.IMessageBus>(scope.ServiceProvider);
            await bus.InvokeAsync(new CompensationLedger.Claims.ClaimInformationDeadlineReached(lapsed.ClaimId, 1, LedgerApp.Start + Duration.FromDays(30)));
        }
        var lapsedStatus = await App.Status(lapsed);
        lapsedStatus.GetProperty("status").GetString().ShouldBe("lapsed");
        Titles(lapsedStatus).Last().ShouldBe("Claim closed");
    }

    [Fact]
    public async Task an_unknown_reference_and_a_wrong_code_get_the_same_answer()
    {
        var caseId = await App.OpenFlaggedCase();
        var buyer = await App.FileForBuyer(caseId);

        var wrongCode = await App.LookUp(buyer.Reference, "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF");
        var unknown = await App.LookUp("CL-2011-999999-1", "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF");

        wrongCode.StatusCode.ShouldBe(unknown.StatusCode);
        ((int)wrongCode.StatusCode).ShouldBe(404);
        (await wrongCode.Content.ReadAsStringAsync()).ShouldBe(await unknown.Content.ReadAsStringAsync());
        wrongCode.Content.Headers.ContentType!.ToString().ShouldBe(unknown.Content.Headers.ContentType!.ToString());

        // Reference and code are read forgivingly (case, spaces), never partially.
        await (await App.LookUp(buyer.Reference.ToLowerInvariant(), buyer.AccessCode.ToLowerInvariant().Replace("-", " ", StringComparison.Ordinal))).ShouldBe(200);
        await (await App.LookUp(buyer.Reference, buyer.AccessCode[..^1])).ShouldBe(404);
    }

    [Fact]
    public async Task repeated_failures_on_one_reference_slow_further_tries_down()
    {
        var caseId = await App.OpenFlaggedCase();
        var buyer = await App.FileForBuyer(caseId);

        for (var i = 0; i < 5; i++) await (await App.LookUp(buyer.Reference, $"WRONG-{i}")).ShouldBe(404);

        // Now even the right code must wait: guessing cannot continue at full speed.
        var blocked = await App.LookUp(buyer.Reference, buyer.AccessCode);
        (await blocked.ShouldBeProblem(429)).GetProperty("code").GetString().ShouldBe("too-many-lookups");
        int.Parse(blocked.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture).ShouldBe(30);

        App.Clock.Advance(Duration.FromSeconds(31));
        await (await App.LookUp(buyer.Reference, buyer.AccessCode)).ShouldBe(200);

        // The same holds for a reference that does not exist: the limit reveals nothing.
        for (var i = 0; i < 5; i++) await (await App.LookUp("CL-2011-424242-4", $"WRONG-{i}")).ShouldBe(404);
        await (await App.LookUp("CL-2011-424242-4", "WRONG-5")).ShouldBeProblem(429);
    }

    [Fact]
    public async Task one_client_gets_a_limited_number_of_lookups_per_minute()
    {
        for (var i = 0; i < 20; i++) await (await App.LookUp($"CL-2011-{i:000000}-0", "X")).ShouldBe(404);

        var limited = await App.LookUp("CL-2011-000100-0", "X");
        await limited.ShouldBeProblem(429);
        limited.Headers.RetryAfter.ShouldNotBeNull();

        App.Clock.Advance(Duration.FromMinutes(1));
        await (await App.LookUp("CL-2011-000101-0", "X")).ShouldBe(404);
    }

    [Fact]
    public async Task lookups_need_both_fields()
    {
        var problem = await (await App.Client().PostRaw("/api/status-lookups", """{"reference":"CL-2011-000001-0"}""")).ShouldBeProblem(400);
        problem.ErrorFields().ShouldContain("accessCode");
        var tooLong = await (await App.Client().PostJson("/api/status-lookups", new { reference = new string('C', 41), accessCode = "x" })).ShouldBeProblem(400);
        tooLong.ErrorFields().ShouldContain("reference");
    }

    [Fact]
    public async Task the_status_page_works_without_javascript()
    {
        var caseId = await App.OpenFlaggedCase();
        var buyer = await App.FileForBuyer(caseId);
        var client = App.Client();

        var form = await client.GetAsync("/status");
        await form.ShouldBe(200);
        var html = await form.Content.ReadAsStringAsync();
        html.ShouldContain("<label for=\"reference\">");
        html.ShouldContain("<label for=\"accessCode\">");
        html.ShouldContain("name=\"viewport\"");
        html.ShouldNotContain("<script");
        html.ShouldNotContain("http://");
        html.ShouldNotContain("https://");

        var shown = await client.PostAsync("/status", new FormUrlEncodedContent(new Dictionary<string, string> { ["reference"] = buyer.Reference, ["accessCode"] = buyer.AccessCode }));
        await shown.ShouldBe(200);
        var page = await shown.Content.ReadAsStringAsync();
        page.ShouldContain(buyer.Reference);
        page.ShouldContain("Received");
        page.ShouldContain("1,400.00 USD");

        var wrong = await client.PostAsync("/status", new FormUrlEncodedContent(new Dictionary<string, string> { ["reference"] = buyer.Reference, ["accessCode"] = "nope" }));
        ((int)wrong.StatusCode).ShouldBe(404);
        (await wrong.Content.ReadAsStringAsync()).ShouldContain("No claim matches");
    }

    [Fact]
    public async Task the_status_page_records_an_answer_with_uploaded_documents_by_their_hash()
    {
        var caseId = await App.OpenFlaggedCase();
        var buyer = await App.FileForBuyer(caseId);
        await App.Verify(buyer.ClaimId);
        await (await App.Act(App.Handler(), buyer.ClaimId, "info-requests", new { missing = new[] { "Invoice" } })).ShouldBe(200);

        using var content = new MultipartFormDataContent
        {
            { new StringContent(buyer.Reference), "reference" },
            { new StringContent(buyer.AccessCode), "accessCode" },
            { new StringContent("Here is the invoice."), "response" },
            { new ByteArrayContent("invoice #7781"u8.ToArray()), "documents", "invoice.pdf" },
        };
        var answered = await App.Client().PostAsync("/status/answer", content);

        await answered.ShouldBe(200);
        (await answered.Content.ReadAsStringAsync()).ShouldContain("your answer was recorded");
        var claim = await App.GetClaim(buyer.ClaimId);
        var evidence = claim.GetProperty("evidence").EnumerateArray().Last();
        evidence.GetProperty("name").GetString().ShouldBe("invoice.pdf");
        evidence.GetProperty("sha256").GetString().ShouldBe(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("invoice #7781"u8.ToArray())));
    }
}
