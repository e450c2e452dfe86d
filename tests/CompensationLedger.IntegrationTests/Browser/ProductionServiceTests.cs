using System.Net.Http.Headers;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using NodaTime;
using NodaTime.Testing;

namespace CompensationLedger.IntegrationTests.Browser;

/// <summary>
/// The service as deployed: Production (it creates no schema objects) on a database built by the migrations
/// alone, doing the money path's writes: a case, a rate, a claim filed, verified and approved, a fund.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class ProductionServiceTests(LedgerApp app)
{
    [Fact]
    public async Task a_production_service_on_a_migrated_database_takes_a_claim_from_filing_to_the_fund()
    {
        var database = await app.Server.CreateDatabaseAsync("ledger_production");
        await new LedgerMigrator(database, new FakeClock(SystemClock.Instance.GetCurrentInstant()))
            .ApplyAsync(LedgerMigrator.Load(Path.Combine(AppContext.BaseDirectory, LedgerMigrator.FolderName)));
        await using var service = await RunningService.StartAsync(database, LedgerApp.SigningKey, "compensation-ledger-tests",
            new Dictionary<string, string> { ["ASPNETCORE_ENVIRONMENT"] = "Production", ["Ledger__SeedDemo"] = "false" });

        HttpClient Staff(string name, string role)
        {
            var client = new HttpClient { BaseAddress = service.BaseAddress };
            var token = new AuthSettings { Issuer = "compensation-ledger-tests", SigningKey = LedgerApp.SigningKey }
                .MintToken(name, [role], SystemClock.Instance.GetCurrentInstant(), Duration.FromHours(1));
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return client;
        }

        var today = SystemClock.Instance.GetCurrentInstant().InUtc().Date;
        string Day(int offset) => today.PlusDays(offset).ToString("uuuu-MM-dd", null);
        var investigator = Staff("ivy", Roles.Investigator);
        var opened = await investigator.PostJson("/api/cases", new
        {
            title = "Production ring", platforms = new[] { "Alibaba.com" }, activeFrom = Day(-200), activeTo = Day(0),
            estimatedLoss = new { amount = 100_000m, currency = "USD" },
        }, idempotencyKey: "open-1");
        await opened.ShouldBe(201);
        var caseId = (await opened.Json()).GetProperty("id").GetGuid();
        await (await investigator.PostJson($"/api/cases/{caseId}/supplier-accounts",
            new { accounts = new[] { new { platform = "Alibaba.com", accountId = "cnprod", displayName = "Prod Electronics" } } })).ShouldBe(200);

        var finance = Staff("fiona", Roles.Finance);
        await (await finance.PostJson("/api/exchange-rates", new { date = Day(-20), currency = "EUR", fundCurrency = "USD", rate = 1.10m })).ShouldBe(201);

        var handler = Staff("hana", Roles.ClaimsHandler);
        var filing = Claims.ClaimApi.Filing(caseId, "TT-PROD-1", 1000m, "EUR", supplier: "cnprod", paymentDate: Day(-20));
        filing["orderDate"] = Day(-25);
        filing["beneficiaryAccount"] = null;
        var filed = await handler.PostJson("/api/claims", filing);
        await filed.ShouldBe(201);
        var claimId = (await filed.Json()).GetProperty("id").GetGuid();

        async Task Act(HttpClient client, string action, int version)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, $"/api/claims/{claimId}/{action}")
            {
                Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{version}\""));
            await (await client.SendAsync(request)).ShouldBe(200);
        }
        await Act(handler, "verification", 1);
        await Act(Staff("abe", Roles.ClaimsApprover), "approval", 2);
        var claim = await (await handler.GetAsync($"/api/claims/{claimId}")).Json();
        claim.GetProperty("entitlement").GetProperty("entitlement").GetProperty("amount").GetDecimal().ShouldBe(770.00m); // 70% of 1,100.00 USD

        await (await finance.PostJson("/api/funds", Funds.FundApi.FairPlayFund())).ShouldBe(201);
        await (await finance.GetAsync("/health/ready")).ShouldBe(200);
        service.Output.ShouldNotContain("fail:");
    }
}
