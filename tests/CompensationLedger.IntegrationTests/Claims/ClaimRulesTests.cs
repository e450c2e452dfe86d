using System.Net.Http.Headers;
using System.Text;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Infrastructure;
using Marten;

namespace CompensationLedger.IntegrationTests.Claims;

public sealed class ClaimConcurrencyTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task twenty_simultaneous_filings_of_one_payment_file_exactly_one_claim()
    {
        var caseId = await App.OpenFlaggedCase();
        var events = await App.EventCount();
        var clients = Enumerable.Range(0, 20).Select(i => App.Handler($"handler{i}")).ToArray();

        var responses = await Task.WhenAll(clients.Select(c => c.PostJson("/api/claims", ClaimApi.Filing(caseId))));

        var statuses = responses.Select(r => (int)r.StatusCode).ToArray();
        statuses.Count(s => s == 201).ShouldBe(1, string.Join(",", statuses));
        statuses.Count(s => s == 409).ShouldBe(19, string.Join(",", statuses));
        var winner = await responses.Single(r => (int)r.StatusCode == 201).Json();
        foreach (var loser in responses.Where(r => (int)r.StatusCode == 409))
        {
            var problem = await loser.ShouldBeProblem(409);
            problem.GetProperty("code").GetString().ShouldBe("duplicate-claim");
            problem.GetProperty("existingReference").GetString().ShouldBe(winner.GetProperty("reference").GetString());
        }
        await using var session = App.Store.QuerySession();
        // Marten writes a "tombstone" for the sequence numbers a failed batch had reserved; those are not business events.
        var all = (await session.Events.QueryAllRawEvents().ToListAsync()).Where(e => e.EventTypeName != "tombstone").ToList();
        all.Count.ShouldBe((int)events + 1, string.Join(", ", all.Select(e => e.EventTypeName + "@" + e.StreamId)));
        all.Last().EventTypeName.ShouldBe("claim_filed");
        (await session.Query<CompensationLedger.Claims.Claim>().CountAsync()).ShouldBe(1);
    }

    [Fact]
    public async Task twenty_simultaneous_approvals_of_one_claim_approve_it_exactly_once()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId));
        await App.Verify(claimId);
        var version = await App.Version(claimId);
        var events = await App.EventCount();
        var approvers = Enumerable.Range(0, 20).Select(i => App.Approver($"approver{i}")).ToArray();

        var responses = await Task.WhenAll(approvers.Select(a => App.Act(a, claimId, "approval", new { }, version)));

        var statuses = responses.Select(r => (int)r.StatusCode).ToArray();
        statuses.Count(s => s == 200).ShouldBe(1, string.Join(",", statuses));
        statuses.Count(s => s == 412).ShouldBe(19, string.Join(",", statuses));
        (await responses.First(r => (int)r.StatusCode == 412).ShouldBeProblem(412)).GetProperty("code").GetString().ShouldBe("stale-version");
        await using var session = App.Store.QuerySession();
        var all = (await session.Events.QueryAllRawEvents().ToListAsync()).Where(e => e.EventTypeName != "tombstone").ToList();
        all.Count.ShouldBe((int)events + 1);
        all.Count(e => e.EventTypeName == "claim_approved").ShouldBe(1);
        (await App.Status(claimId)).ShouldBe("approved");
    }

    [Fact]
    public async Task a_stale_expected_version_is_412_and_a_missing_one_428_and_neither_changes_anything()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId));
        await App.Verify(claimId);
        var events = await App.EventCount();

        var stale = await App.Act(App.Approver(), claimId, "approval", new { }, version: 1);
        var problem = await stale.ShouldBeProblem(412);
        problem.GetProperty("currentVersion").GetInt32().ShouldBe(2);

        var missing = await App.Approver().PostJson($"/api/claims/{claimId}/approval", new { });
        (await missing.ShouldBeProblem(428)).GetProperty("code").GetString().ShouldBe("expected-version-required");

        var malformed = new HttpRequestMessage(HttpMethod.Post, $"/api/claims/{claimId}/approval") { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        malformed.Headers.TryAddWithoutValidation("If-Match", "\"two\"");
        (await (await App.Approver().SendAsync(malformed)).ShouldBeProblem(400)).ErrorFields().ShouldContain("if-match");

        (await App.EventCount()).ShouldBe(events);
        var get = await App.Client("audrey", Roles.Auditor).GetAsync($"/api/claims/{claimId}");
        get.Headers.ETag.ShouldBe(new EntityTagHeaderValue("\"2\""));
    }
}

public sealed class ClaimRoleTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task the_person_who_verified_a_claim_cannot_approve_or_reject_it_even_holding_both_roles()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId));
        var both = App.Client("vic", Roles.ClaimsHandler, Roles.ClaimsApprover);
        await (await App.Act(both, claimId, "verification", new { })).ShouldBe(200);

        var approve = await App.Act(both, claimId, "approval", new { });
        (await approve.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("four-eyes");
        var reject = await App.Act(both, claimId, "rejection", new { reason = "duplicate" });
        (await reject.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("four-eyes");

        await (await App.Act(App.Approver("abe"), claimId, "approval", new { })).ShouldBe(200);
    }

    [Fact]
    public async Task a_handler_cannot_decide_and_an_approver_cannot_file_or_verify()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId));
        await App.Verify(claimId, "hana");
        var events = await App.EventCount();

        await (await App.Act(App.Handler("hank"), claimId, "approval", new { })).ShouldBeProblem(403);
        await (await App.Act(App.Handler("hank"), claimId, "rejection", new { reason = "duplicate" })).ShouldBeProblem(403);
        await (await App.Approver().PostJson("/api/claims", ClaimApi.Filing(caseId, paymentReference: "X-9"))).ShouldBeProblem(403);
        await (await App.Act(App.Approver(), claimId, "verification", new { })).ShouldBeProblem(403);
        await (await App.Client("fin", Roles.Finance).PostJson("/api/claims", ClaimApi.Filing(caseId, paymentReference: "X-9"))).ShouldBeProblem(403);
        await (await App.Handler().PostJson("/api/exchange-rates", new { date = "2011-02-10", currency = "EUR", fundCurrency = "USD", rate = 1.4m })).ShouldBeProblem(403);
        await (await App.Client().GetAsync($"/api/claims/{claimId}")).ShouldBeProblem(401);

        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task retrying_a_filing_with_its_idempotency_key_files_once_and_does_not_replay_the_access_code()
    {
        var caseId = await App.OpenFlaggedCase();
        var first = await App.Handler().PostJson("/api/claims", ClaimApi.Filing(caseId), idempotencyKey: "file-1");
        await first.ShouldBe(201);
        var code = (await first.Json()).GetProperty("accessCode").GetString()!;
        var events = await App.EventCount();

        var retry = await App.Handler().PostJson("/api/claims", ClaimApi.Filing(caseId), idempotencyKey: "file-1");

        await retry.ShouldBe(201);
        retry.Headers.Location.ShouldBe(first.Headers.Location);
        (await retry.Content.ReadAsStringAsync()).ShouldNotContain(code);
        (await App.EventCount()).ShouldBe(events);
    }
}

public sealed class BuyerErasureTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task erasing_a_buyers_data_removes_it_keeps_the_books_and_still_catches_a_duplicate()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId));
        await App.Verify(claimId);
        await (await App.Act(App.Approver(), claimId, "approval", new { })).ShouldBe(200);

        var erased = await App.Act(App.Handler(), claimId, "buyer-erasure", new { });

        await erased.ShouldBe(200);
        await (await App.Handler().GetAsync($"/api/claims/{claimId}/buyer")).ShouldBeProblem(404);
        var claim = await App.GetClaim(claimId);
        claim.GetProperty("buyerDataErased").GetBoolean().ShouldBeTrue();
        claim.GetProperty("entitlement").GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(980.00m);
        var duplicate = await App.Handler().PostJson("/api/claims", ClaimApi.Filing(caseId, paymentReference: "NEW-REF"));
        (await duplicate.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("duplicate-claim");
    }
}

public sealed class ClaimInputTests(LedgerApp app) : IntegrationTest(app)
{
    public static TheoryData<string, string, object?> BadFilings => new()
    {
        { "caseId", "caseId", null },
        { "buyer", "buyer", null },
        { "platform", "platform", null },
        { "paymentDate", "paymentDate", "10/02/2011" },
        { "orderDate", "orderDate", "2011-02-30" },
        { "paymentReference", "paymentReference", new string('x', 101) },
        { "goodsDescription", "goodsDescription", "" },
        { "amountPaid", "amountPaid.amount", new { amount = -5m, currency = "USD" } },
        { "amountPaid", "amountPaid.amount", new { amount = 10.001m, currency = "USD" } },
        { "amountPaid", "amountPaid.amount", new { amount = 100.5m, currency = "JPY" } },
        { "amountPaid", "amountPaid.currency", new { amount = 10m, currency = "XYZ" } },
        { "beneficiaryAccount", "beneficiaryAccount", "12" },
        { "unexpected", "unexpected", 1 },
    };

    [Theory]
    [MemberData(nameof(BadFilings))]
    public async Task a_bad_filing_is_a_400_naming_the_field_and_appends_nothing(string field, string named, object? value)
    {
        var caseId = await App.OpenFlaggedCase();
        var events = await App.EventCount();
        var filing = ClaimApi.Filing(caseId);
        if (value is null && field != "unexpected") filing.Remove(field);
        else filing[field] = value;

        var response = await App.Handler().PostJson("/api/claims", filing);

        (await response.ShouldBeProblem(400)).ErrorFields().ShouldContain(named);
        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task bad_buyer_data_and_evidence_are_named_field_by_field()
    {
        var caseId = await App.OpenFlaggedCase();
        var filing = ClaimApi.Filing(caseId);
        filing["buyer"] = new { name = new string('n', 201), country = "XX", email = "not-an-address" };
        filing["evidence"] = new[] { new { name = "x.pdf", sha256 = "abc" } };

        var problem = await (await App.Handler().PostJson("/api/claims", filing)).ShouldBeProblem(400);

        problem.ErrorFields().ShouldBe(["buyer.name", "buyer.email", "buyer.country", "evidence[0].sha256"], ignoreOrder: true);
    }

    [Fact]
    public async Task bad_commands_on_a_claim_are_400s_naming_the_field_and_append_nothing()
    {
        var caseId = await App.OpenFlaggedCase();
        var claimId = await App.FileClaimId(ClaimApi.Filing(caseId));
        await App.Verify(claimId);
        var events = await App.EventCount();

        (await (await App.Act(App.Approver(), claimId, "rejection", new { reason = "bored" })).ShouldBeProblem(400)).ErrorFields().ShouldContain("reason");
        (await (await App.Act(App.Approver(), claimId, "rejection", new { })).ShouldBeProblem(400)).ErrorFields().ShouldContain("reason");
        (await (await App.Act(App.Approver(), claimId, "rejection", new { reason = "other" })).ShouldBeProblem(400)).ErrorFields().ShouldContain("note");
        (await (await App.Act(App.Approver(), claimId, "approval", new { note = new string('n', 4001) })).ShouldBeProblem(400)).ErrorFields().ShouldContain("note");
        (await (await App.Act(App.Approver(), claimId, "appeal-decision", new { outcome = "maybe" })).ShouldBeProblem(400)).ErrorFields().ShouldContain("outcome");
        (await (await App.Act(App.Handler(), claimId, "info-requests", new { missing = Array.Empty<string>() })).ShouldBeProblem(400)).ErrorFields().ShouldContain("missing");
        (await (await App.Act(App.Handler(), claimId, "info-requests", new { missing = new[] { "" } })).ShouldBeProblem(400)).ErrorFields().ShouldContain("missing[0]");
        (await (await App.Act(App.Handler(), claimId, "info-responses", new { })).ShouldBeProblem(400)).ErrorFields().ShouldContain("response");
        (await (await App.Act(App.Handler(), claimId, "appeal", new { grounds = new string('g', 4001) })).ShouldBeProblem(400)).ErrorFields().ShouldContain("grounds");
        (await (await App.Act(App.Handler(), claimId, "withdrawal", new { reason = (string?)null })).ShouldBeProblem(400)).ErrorFields().ShouldContain("reason");
        (await (await App.Act(App.Handler(), claimId, "verification", new { extra = 1 })).ShouldBeProblem(400)).ErrorFields().ShouldContain("extra");
        await (await App.Act(App.Handler(), Guid.NewGuid(), "withdrawal", new { reason = "x" }, 1)).ShouldBeProblem(404);

        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task bad_exchange_rates_and_list_filters_are_400s_naming_the_field()
    {
        var finance = App.Client("fin", Roles.Finance);
        (await (await finance.PostJson("/api/exchange-rates", new { date = "2011-02-10", currency = "EUR", fundCurrency = "USD", rate = -1m })).ShouldBeProblem(400)).ErrorFields().ShouldContain("rate");
        (await (await finance.PostJson("/api/exchange-rates", new { date = "2011-02-10", currency = "EUR", fundCurrency = "USD", rate = 1.12345678901m })).ShouldBeProblem(400)).ErrorFields().ShouldContain("rate");
        (await (await finance.PostJson("/api/exchange-rates", new { date = "10.02.2011", currency = "EUR", fundCurrency = "USD", rate = 1.4m })).ShouldBeProblem(400)).ErrorFields().ShouldContain("date");
        (await (await finance.PostJson("/api/exchange-rates", new { date = "2011-02-10", currency = "EURO", fundCurrency = "USD", rate = 1.4m })).ShouldBeProblem(400)).ErrorFields().ShouldContain("currency");
        (await (await finance.PostJson("/api/exchange-rates", new { date = "2011-02-10", fundCurrency = "USD", rate = 1.4m })).ShouldBeProblem(400)).ErrorFields().ShouldContain("currency");
        (await (await finance.GetAsync("/api/exchange-rates?date=yesterday")).ShouldBeProblem(400)).ErrorFields().ShouldContain("date");
        (await (await finance.GetAsync("/api/claims?status=paid")).ShouldBeProblem(400)).ErrorFields().ShouldContain("status");
        (await (await finance.GetAsync("/api/claims?pageSize=0")).ShouldBeProblem(400)).ErrorFields().ShouldContain("pageSize");
        (await App.EventCount()).ShouldBe(0);
    }
}
