using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.Cases;

/// <summary>Bad input to every fraud-case endpoint is a 400 naming the field, and appends nothing.</summary>
public sealed class FraudCaseInputTests(LedgerApp app) : IntegrationTest(app)
{
    private const string Valid = """
        {"title":"Putian ring","platforms":["Alibaba.com","EC21.com"],"activeFrom":"2009-06-01","activeTo":"2011-02-28","estimatedLoss":{"amount":6600000.00,"currency":"USD"}}
        """;

    public static TheoryData<string, string, string> BadCases => new()
    {
        { "malformed JSON (named where it breaks)", """{"title": "Putian""", "title" },
        { "missing title", """{"platforms":["A.com"],"activeFrom":"2009-06-01","activeTo":"2011-02-28","estimatedLoss":{"amount":1,"currency":"USD"}}""", "title" },
        { "null title", Valid.Replace("\"Putian ring\"", "null", StringComparison.Ordinal), "title" },
        { "blank title", Valid.Replace("\"Putian ring\"", "\"   \"", StringComparison.Ordinal), "title" },
        { "too-long title", Valid.Replace("Putian ring", new string('x', 201), StringComparison.Ordinal), "title" },
        { "no platforms", Valid.Replace("[\"Alibaba.com\",\"EC21.com\"]", "[]", StringComparison.Ordinal), "platforms" },
        { "too-long platform", Valid.Replace("EC21.com", new string('p', 101), StringComparison.Ordinal), "platforms[1]" },
        { "wrong date format", Valid.Replace("2009-06-01", "01/06/2009", StringComparison.Ordinal), "activeFrom" },
        { "impossible date", Valid.Replace("2011-02-28", "2011-02-30", StringComparison.Ordinal), "activeTo" },
        { "period ends before it starts", Valid.Replace("2011-02-28", "2008-01-01", StringComparison.Ordinal), "activeTo" },
        { "negative amount", Valid.Replace("6600000.00", "-5", StringComparison.Ordinal), "estimatedLoss.amount" },
        { "over-precise amount", Valid.Replace("6600000.00", "6600000.001", StringComparison.Ordinal), "estimatedLoss.amount" },
        { "amount as a string", Valid.Replace("6600000.00", "\"6600000\"", StringComparison.Ordinal), "estimatedLoss.amount" },
        { "unknown currency", Valid.Replace("USD", "XYZ", StringComparison.Ordinal), "estimatedLoss.currency" },
        { "missing currency", Valid.Replace(",\"currency\":\"USD\"", "", StringComparison.Ordinal), "estimatedLoss.currency" },
        { "unknown field", Valid.Replace("{\"title\"", "{\"titel\":\"typo\",\"title\"", StringComparison.Ordinal), "titel" },
    };

    [Theory]
    [MemberData(nameof(BadCases))]
    public async Task opening_a_case_with_bad_input_is_a_400_naming_the_field(string what, string body, string field)
    {
        var response = await App.Client("ivy", Roles.Investigator).PostRaw("/api/cases", body);

        var problem = await response.ShouldBeProblem(400);
        problem.GetProperty("code").GetString().ShouldBe("validation", what);
        problem.ErrorFields().ShouldContain(field, what);
        (await App.EventCount()).ShouldBe(0);
    }

    public static TheoryData<string, string, string> BadSupplierFlags => new()
    {
        { "malformed JSON (named where it breaks)", "{\"accounts\":[", "accounts[0]" },
        { "no accounts", """{"accounts":[]}""", "accounts" },
        { "missing account id", """{"accounts":[{"platform":"Alibaba.com","displayName":"X"}]}""", "accountId" },
        { "too-long display name", $$"""{"accounts":[{"platform":"Alibaba.com","accountId":"a","displayName":"{{new string('d', 201)}}"}]}""", "accounts[0].displayName" },
        { "the same account twice", """{"accounts":[{"platform":"Alibaba.com","accountId":"a","displayName":"A"},{"platform":"alibaba.com","accountId":"A","displayName":"A"}]}""", "accounts" },
        { "a number for a string", """{"accounts":[{"platform":"Alibaba.com","accountId":12,"displayName":"A"}]}""", "accounts[0].accountId" },
    };

    [Theory]
    [MemberData(nameof(BadSupplierFlags))]
    public async Task flagging_supplier_accounts_with_bad_input_is_a_400_naming_the_field(string what, string body, string field)
    {
        var caseId = await App.OpenCase();
        var events = await App.EventCount();

        var problem = await (await App.Client("ivy", Roles.Investigator).PostRaw($"/api/cases/{caseId}/supplier-accounts", body)).ShouldBeProblem(400);

        problem.ErrorFields().ShouldContain(field, what);
        (await App.EventCount()).ShouldBe(events);
    }

    public static TheoryData<string, string, string> BadBankFlags => new()
    {
        { "too short a number", """{"accounts":[{"accountNumber":"123"}]}""", "accounts[0].accountNumber" },
        { "too long a number", $$"""{"accounts":[{"accountNumber":"{{new string('1', 65)}}"}]}""", "accounts[0].accountNumber" },
        { "not a country code", """{"accounts":[{"accountNumber":"6222021203001234","country":"China"}]}""", "accounts[0].country" },
        { "the same card twice", """{"accounts":[{"accountNumber":"6222 0212 0300 1234"},{"accountNumber":"6222-0212-0300-1234"}]}""", "accounts" },
    };

    [Theory]
    [MemberData(nameof(BadBankFlags))]
    public async Task flagging_bank_accounts_with_bad_input_is_a_400_naming_the_field(string what, string body, string field)
    {
        var caseId = await App.OpenCase();
        var events = await App.EventCount();

        var problem = await (await App.Client("ivy", Roles.Investigator).PostRaw($"/api/cases/{caseId}/bank-accounts", body)).ShouldBeProblem(400);

        problem.ErrorFields().ShouldContain(field, what);
        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task a_malformed_case_id_in_the_path_is_not_found_rather_than_an_error()
    {
        var response = await App.Client("ivy", Roles.Investigator).GetAsync("/api/cases/not-a-guid");
        ((int)response.StatusCode).ShouldBeOneOf(400, 404);
    }
}
