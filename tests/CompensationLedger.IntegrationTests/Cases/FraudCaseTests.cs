using System.Text.Json;
using CompensationLedger.Demo;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using NodaTime;

namespace CompensationLedger.IntegrationTests.Cases;

public sealed class FraudCaseTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task opening_a_case_records_who_opened_it_and_when()
    {
        var response = await App.Client("ivy", Roles.Investigator).PostJson("/api/cases", CaseApi.PutianLike());

        await response.ShouldBe(201);
        var created = await response.Json();
        var id = created.GetProperty("id").GetGuid();
        response.Headers.Location!.ToString().ShouldBe($"/api/cases/{id}");

        var fraudCase = await App.GetCase(id);
        fraudCase.GetProperty("title").GetString().ShouldBe("Putian ring");
        fraudCase.GetProperty("platforms").GetArrayLength().ShouldBe(4);
        fraudCase.GetProperty("activeFrom").GetString().ShouldBe("2009-06-01");
        fraudCase.GetProperty("estimatedLoss").GetProperty("amount").GetDecimal().ShouldBe(6_600_000.00m);
        fraudCase.GetProperty("estimatedLoss").GetProperty("currency").GetString().ShouldBe("USD");
        fraudCase.GetProperty("openedBy").GetString().ShouldBe("ivy");
        fraudCase.GetProperty("openedAt").GetString().ShouldBe("2011-04-11T08:00:00Z");
        fraudCase.GetProperty("version").GetInt32().ShouldBe(1);
    }

    [Fact]
    public async Task supplier_accounts_are_flagged_in_bulk_with_normalised_ids()
    {
        var caseId = await App.OpenCase();
        App.Clock.Advance(Duration.FromHours(1));

        var response = await App.Client("ivy", Roles.Investigator).PostJson($"/api/cases/{caseId}/supplier-accounts", new
        {
            accounts = new[]
            {
                new { platform = "alibaba.com", accountId = "  CN-Xinda-01 ", displayName = "Putian Xinda Electronics Co., Ltd." },
                new { platform = "EC21.com", accountId = "huaxin2010", displayName = "Huaxin Digital" },
            },
        });

        await response.ShouldBe(200);
        var fraudCase = await App.GetCase(caseId);
        fraudCase.GetProperty("version").GetInt32().ShouldBe(2);
        var accounts = fraudCase.GetProperty("supplierAccounts").EnumerateArray().ToList();
        accounts.Count.ShouldBe(2);
        accounts[0].GetProperty("platform").GetString().ShouldBe("Alibaba.com");
        accounts[0].GetProperty("accountId").GetString().ShouldBe("cn-xinda-01");
    }

    [Fact]
    public async Task flagging_an_account_twice_is_refused_and_flags_nothing()
    {
        var caseId = await App.OpenCase();
        var investigator = App.Client("ivy", Roles.Investigator);
        await (await investigator.PostJson($"/api/cases/{caseId}/supplier-accounts",
            new { accounts = new[] { new { platform = "Alibaba.com", accountId = "cnxinda", displayName = "Xinda" } } })).ShouldBe(200);
        var events = await App.EventCount();

        var again = await investigator.PostJson($"/api/cases/{caseId}/supplier-accounts", new
        {
            accounts = new[]
            {
                new { platform = "Alibaba.com", accountId = "newone", displayName = "New" },
                new { platform = "ALIBABA.COM", accountId = "CNXINDA", displayName = "Xinda again" },
            },
        });

        var problem = await again.ShouldBeProblem(409);
        problem.GetProperty("code").GetString().ShouldBe("already-flagged");
        problem.GetProperty("detail").GetString()!.ShouldContain("Alibaba.com/cnxinda");
        (await App.EventCount()).ShouldBe(events);
        (await App.GetCase(caseId)).GetProperty("supplierAccounts").GetArrayLength().ShouldBe(1);
    }

    [Fact]
    public async Task a_supplier_on_a_platform_the_case_does_not_cover_is_refused()
    {
        var caseId = await App.OpenCase();

        var response = await App.Client("ivy", Roles.Investigator).PostJson($"/api/cases/{caseId}/supplier-accounts",
            new { accounts = new[] { new { platform = "DHgate.com", accountId = "x1", displayName = "X" } } });

        var problem = await response.ShouldBeProblem(409);
        problem.GetProperty("code").GetString().ShouldBe("platform-not-in-case");
    }

    [Fact]
    public async Task bank_accounts_are_normalised_and_shown_in_full_only_to_investigators()
    {
        var caseId = await App.OpenCase();
        var response = await App.Client("ivy", Roles.Investigator).PostJson($"/api/cases/{caseId}/bank-accounts", new
        {
            accounts = new object[]
            {
                new { accountNumber = "6222 0212-0300 1234", bankName = "ICBC", holderName = (string?)null, country = "CN" },
                new { accountNumber = "6228480012345678", bankName = (string?)null, holderName = "Lin", country = (string?)null },
            },
        });
        await response.ShouldBe(200);

        var investigatorView = await App.GetCase(caseId, Roles.Investigator);
        investigatorView.GetProperty("bankAccounts")[0].GetProperty("accountNumber").GetString().ShouldBe("6222021203001234");

        foreach (var role in new[] { Roles.ClaimsHandler, Roles.ClaimsApprover, Roles.Finance, Roles.Auditor })
        {
            var view = await App.GetCase(caseId, role);
            var numbers = view.GetProperty("bankAccounts").EnumerateArray().Select(b => b.GetProperty("accountNumber").GetString()).ToList();
            numbers.ShouldBe(["••••1234", "••••5678"]);
        }

        var sameAgain = await App.Client("ivy", Roles.Investigator).PostJson($"/api/cases/{caseId}/bank-accounts",
            new { accounts = new[] { new { accountNumber = "6222-0212-0300-1234" } } });
        (await sameAgain.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("already-flagged");
    }

    [Fact]
    public async Task an_unknown_case_is_a_404_problem()
    {
        var missing = Guid.NewGuid();
        var investigator = App.Client("ivy", Roles.Investigator);

        await (await investigator.GetAsync($"/api/cases/{missing}")).ShouldBeProblem(404);
        await (await investigator.PostJson($"/api/cases/{missing}/supplier-accounts",
            new { accounts = new[] { new { platform = "Alibaba.com", accountId = "a", displayName = "A" } } })).ShouldBeProblem(404);
        await (await investigator.PostJson($"/api/cases/{missing}/bank-accounts",
            new { accounts = new[] { new { accountNumber = "62220212030012" } } })).ShouldBeProblem(404);
        (await App.EventCount()).ShouldBe(0);
    }

    [Fact]
    public async Task cases_are_listed_newest_first_with_paging_and_filters()
    {
        await App.OpenCase(CaseApi.PutianLike("First ring"));
        App.Clock.Advance(Duration.FromDays(1));
        await App.OpenCase(new
        {
            title = "Second ring",
            platforms = new[] { "DHgate.com" },
            activeFrom = "2012-01-01",
            activeTo = "2012-06-30",
            estimatedLoss = new { amount = 120_000m, currency = "EUR" },
        });

        var client = App.Client("audrey", Roles.Auditor);
        var all = await (await client.GetAsync("/api/cases?pageSize=1")).Json();
        all.GetProperty("totalCount").GetInt64().ShouldBe(2);
        all.GetProperty("items").GetArrayLength().ShouldBe(1);
        all.GetProperty("items")[0].GetProperty("title").GetString().ShouldBe("Second ring");

        var byPlatform = await (await client.GetAsync("/api/cases?platform=EC21.com")).Json();
        byPlatform.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("title").GetString()).ShouldBe(["First ring"]);

        var problem = await (await client.GetAsync("/api/cases?pageSize=0")).ShouldBeProblem(400);
        problem.ErrorFields().ShouldContain("pageSize");
    }

    [Fact]
    public async Task the_demo_seed_loads_the_putian_case_once()
    {
        (await PutianDemo.SeedAsync(App.Store, App.Clock)).ShouldBeTrue();
        (await PutianDemo.SeedAsync(App.Store, App.Clock)).ShouldBeFalse();

        var putian = await App.GetCase(PutianDemo.CaseId, Roles.Finance);
        putian.GetProperty("platforms").GetArrayLength().ShouldBe(4);
        putian.GetProperty("supplierAccountCount").GetInt32().ShouldBeGreaterThanOrEqualTo(100);
        putian.GetProperty("bankAccountCount").GetInt32().ShouldBe(137);
        putian.GetProperty("estimatedLoss").GetProperty("amount").GetDecimal().ShouldBe(6_600_000m);
        putian.GetProperty("bankAccounts").EnumerateArray().ShouldAllBe(b => b.GetProperty("accountNumber").GetString()!.StartsWith("••••"));
    }
}
