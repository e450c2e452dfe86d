using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.Funds;

/// <summary>Bad input to every fund endpoint is a 400 naming the field, and appends nothing.</summary>
public sealed class FundInputTests(LedgerApp app) : IntegrationTest(app)
{
    private const string Policy = """
        {"effectiveFrom":"2011-02-21","coverageRatio":0.70,"capPerClaim":{"amount":1000.00,"currency":"USD"},"minimumPayment":{"amount":5.00,"currency":"USD"},"filingWindowDays":90,"deficiencyDeadlineDays":30,"appealWindowDays":60}
        """;

    private static readonly string ValidFund =
        """{"name":"Fair Play Fund","sponsor":"Alibaba.com","currency":"USD","eligiblePlatforms":["Alibaba.com"],"policy":""" + Policy.Trim() + "}";

    public static TheoryData<string, string, string> BadFunds => new()
    {
        { "malformed JSON", """{"name": "Fair""", "name" },
        { "missing name", ValidFund.Replace("\"name\":\"Fair Play Fund\",", "", StringComparison.Ordinal), "name" },
        { "blank sponsor", ValidFund.Replace("\"Alibaba.com\",\"currency\"", "\"  \",\"currency\"", StringComparison.Ordinal), "sponsor" },
        { "unknown currency", ValidFund.Replace("\"currency\":\"USD\",\"eligible", "\"currency\":\"XYZ\",\"eligible", StringComparison.Ordinal), "currency" },
        { "no platforms", ValidFund.Replace("[\"Alibaba.com\"]", "[]", StringComparison.Ordinal), "eligiblePlatforms" },
        { "missing policy", ValidFund[..ValidFund.IndexOf(",\"policy\"", StringComparison.Ordinal)] + "}", "policy" },
        { "coverage above 100%", ValidFund.Replace("0.70", "1.5", StringComparison.Ordinal), "policy.coverageRatio" },
        { "cap in another currency", ValidFund.Replace("{\"amount\":1000.00,\"currency\":\"USD\"}", "{\"amount\":1000.00,\"currency\":\"EUR\"}", StringComparison.Ordinal), "policy.capPerClaim.currency" },
        { "negative minimum payment", ValidFund.Replace("\"amount\":5.00", "\"amount\":-5", StringComparison.Ordinal), "policy.minimumPayment.amount" },
        { "no filing window", ValidFund.Replace("\"filingWindowDays\":90", "\"filingWindowDays\":0", StringComparison.Ordinal), "policy.filingWindowDays" },
        { "ratio as a string", ValidFund.Replace("0.70", "\"0.70\"", StringComparison.Ordinal), "policy.coverageRatio" },
        { "unknown field", ValidFund.Replace("{\"name\"", "{\"nmae\":\"typo\",\"name\"", StringComparison.Ordinal), "nmae" },
    };

    [Theory]
    [MemberData(nameof(BadFunds))]
    public async Task establishing_a_fund_with_bad_input_is_a_400_naming_the_field(string what, string body, string field)
    {
        var response = await App.Finance().PostRaw("/api/funds", body);

        var problem = await response.ShouldBeProblem(400);
        problem.GetProperty("code").GetString().ShouldBe("validation", what);
        problem.ErrorFields().ShouldContain(field, what);
        (await App.EventCount()).ShouldBe(0);
    }

    [Fact]
    public async Task the_valid_fund_body_of_these_tests_is_accepted() =>
        await (await App.Finance().PostRaw("/api/funds", ValidFund)).ShouldBe(201);

    public static TheoryData<string, string, string> BadPolicies => new()
    {
        { "policy in another currency than the fund", "{\"policy\":" + Policy.Trim().Replace("\"USD\"}", "\"EUR\"}", StringComparison.Ordinal) + "}", "policy.capPerClaim.currency" },
        { "no coverage", "{\"policy\":" + Policy.Trim().Replace("0.70", "0", StringComparison.Ordinal) + "}", "policy.coverageRatio" },
        { "impossible date", "{\"policy\":" + Policy.Trim().Replace("2011-02-21", "2011-02-30", StringComparison.Ordinal) + "}", "policy.effectiveFrom" },
        { "no policy", "{}", "policy" },
    };

    [Theory]
    [MemberData(nameof(BadPolicies))]
    public async Task adding_a_policy_with_bad_input_is_a_400_naming_the_field(string what, string body, string field)
    {
        var fundId = await App.EstablishFund();
        var events = await App.EventCount();

        var problem = await (await App.Finance().PostRaw($"/api/funds/{fundId}/policies", body)).ShouldBeProblem(400);

        problem.ErrorFields().ShouldContain(field, what);
        (await App.EventCount()).ShouldBe(events);
    }

    public static TheoryData<string, string, string> BadPools => new()
    {
        { "unknown kind", """{"kind":"special","name":"X"}""", "kind" },
        { "blank name", """{"kind":"general","name":" "}""", "name" },
        { "perpetrator without a case", """{"kind":"perpetrator","name":"X","platform":"Alibaba.com","supplierAccountId":"a"}""", "caseId" },
        { "perpetrator without an account", """{"kind":"perpetrator","name":"X","caseId":"0195a2c0-0000-7000-8000-000000000042","platform":"Alibaba.com"}""", "supplierAccountId" },
        { "general pool naming a platform", """{"kind":"general","name":"X","platform":"Alibaba.com"}""", "platform" },
        { "case id not a guid", """{"kind":"perpetrator","name":"X","caseId":"case-1","platform":"A","supplierAccountId":"a"}""", "caseId" },
    };

    [Theory]
    [MemberData(nameof(BadPools))]
    public async Task opening_a_pool_with_bad_input_is_a_400_naming_the_field(string what, string body, string field)
    {
        var fundId = await App.EstablishFund();
        var events = await App.EventCount();

        var problem = await (await App.Finance().PostRaw($"/api/funds/{fundId}/pools", body)).ShouldBeProblem(400);

        problem.ErrorFields().ShouldContain(field, what);
        (await App.EventCount()).ShouldBe(events);
    }

    private const string ValidDeposit = """{"amount":{"amount":1000.00,"currency":"USD"},"bankReference":"DEP-1","valueDate":"2011-05-30"}""";

    public static TheoryData<string, string, string> BadDeposits => new()
    {
        { "zero amount", ValidDeposit.Replace("1000.00", "0", StringComparison.Ordinal), "amount.amount" },
        { "negative amount", ValidDeposit.Replace("1000.00", "-1", StringComparison.Ordinal), "amount.amount" },
        { "sub-cent amount", ValidDeposit.Replace("1000.00", "1000.001", StringComparison.Ordinal), "amount.amount" },
        { "another currency than the fund", ValidDeposit.Replace("USD", "EUR", StringComparison.Ordinal), "amount.currency" },
        { "missing bank reference", ValidDeposit.Replace(",\"bankReference\":\"DEP-1\"", "", StringComparison.Ordinal), "bankReference" },
        { "blank bank reference", ValidDeposit.Replace("DEP-1", "  ", StringComparison.Ordinal), "bankReference" },
        { "bad value date", ValidDeposit.Replace("2011-05-30", "30/05/2011", StringComparison.Ordinal), "valueDate" },
    };

    [Theory]
    [MemberData(nameof(BadDeposits))]
    public async Task a_deposit_with_bad_input_is_a_400_naming_the_field(string what, string body, string field)
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        var events = await App.EventCount();

        var problem = await (await App.Finance().PostRaw($"/api/funds/{fundId}/pools/{poolId}/deposits", body)).ShouldBeProblem(400);

        problem.ErrorFields().ShouldContain(field, what);
        (await App.EventCount()).ShouldBe(events);
    }

    public static TheoryData<string, string, string, string> BadRoundAndPayoutRequests => new()
    {
        { "round note too long", "/api/funds/{fund}/rounds", $$"""{"note":"{{new string('n', 4001)}}"}""", "note" },
        { "round with an unknown field", "/api/funds/{fund}/rounds", """{"pool":"x"}""", "pool" },
        { "cancellation without a reason", "/api/rounds/{id}/cancellation", "{}", "reason" },
        { "settlement with an unknown field", "/api/payouts/{id}/settlement", """{"amount":1}""", "amount" },
        { "return without a reason", "/api/payouts/{id}/return", """{"reason":""}""", "reason" },
        { "reissue without bank details", "/api/payouts/{id}/reissue", "{}", "bankDetails" },
        { "reissue without an account number", "/api/payouts/{id}/reissue", """{"bankDetails":{"accountHolder":"Ann","accountNumber":" "}}""", "bankDetails.accountNumber" },
        { "reissue with a country that is not a code", "/api/payouts/{id}/reissue", """{"bankDetails":{"accountHolder":"Ann","accountNumber":"12345678","country":"United Kingdom"}}""", "bankDetails.country" },
    };

    [Theory]
    [MemberData(nameof(BadRoundAndPayoutRequests))]
    public async Task round_and_payout_requests_with_bad_input_are_a_400_naming_the_field(string what, string url, string body, string field)
    {
        var fundId = await App.EstablishFund();
        var events = await App.EventCount();

        var response = await App.Finance().PostRaw(url.Replace("{fund}", fundId.ToString(), StringComparison.Ordinal).Replace("{id}", Guid.NewGuid().ToString(), StringComparison.Ordinal), body);

        var problem = await response.ShouldBeProblem(400);
        problem.ErrorFields().ShouldContain(field, what);
        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task unknown_funds_rounds_and_payouts_are_404()
    {
        await (await App.Finance().GetAsync($"/api/funds/{Guid.NewGuid()}")).ShouldBeProblem(404);
        await (await App.Finance().GetAsync($"/api/rounds/{Guid.NewGuid()}")).ShouldBeProblem(404);
        await (await App.Finance().GetAsync($"/api/payouts/{Guid.NewGuid()}")).ShouldBeProblem(404);
        await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{Guid.NewGuid()}/release", new { })).ShouldBeProblem(404);
        await (await App.Finance().PostJson($"/api/funds/{Guid.NewGuid()}/rounds", new { })).ShouldBeProblem(404);
        await (await App.Finance().GetAsync("/api/payouts?status=lost")).ShouldBeProblem(400);
    }
}
