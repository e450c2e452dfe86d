using System.Text.Json;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Wolverine;

namespace CompensationLedger.IntegrationTests.Funds;

/// <summary>Requests the fund tests make over and over.</summary>
public static class FundApi
{
    public const string Preparer = "fiona";
    public const string Releaser = "frank";

    public static object Policy(string currency = "USD", string effectiveFrom = "2011-02-21", decimal minimum = 0m, bool backs = false, decimal? capPerBuyer = null) => new
    {
        effectiveFrom,
        capPerBuyer = capPerBuyer is { } cap ? new { amount = cap, currency } : null,
        coverageRatio = 0.70m,
        capPerClaim = new { amount = currency == "JPY" ? 100_000m : 1_000.00m, currency },
        minimumPayment = new { amount = minimum, currency },
        filingWindowDays = 90,
        deficiencyDeadlineDays = 30,
        appealWindowDays = 60,
        generalPoolBacksPerpetratorPools = backs,
    };

    public static object FairPlayFund(string currency = "USD", decimal minimum = 0m, bool backs = false, decimal? capPerBuyer = null) => new
    {
        name = "Fair Play Fund",
        sponsor = "Alibaba.com",
        currency,
        eligiblePlatforms = new[] { "Alibaba.com" },
        policy = Policy(currency, minimum: minimum, backs: backs, capPerBuyer: capPerBuyer),
    };

    public static HttpClient Finance(this LedgerApp app, string name = Preparer) => app.Client(name, Roles.Finance);

    public static async Task<Guid> EstablishFund(this LedgerApp app, object? body = null)
    {
        var response = await app.Finance().PostJson("/api/funds", body ?? FairPlayFund());
        await response.ShouldBe(201);
        return (await response.Json()).GetProperty("id").GetGuid();
    }

    public static async Task<Guid> OpenGeneralPool(this LedgerApp app, Guid fundId)
    {
        var response = await app.Finance().PostJson($"/api/funds/{fundId}/pools", new { kind = "general", name = "General pool" });
        await response.ShouldBe(201);
        return (await response.Json()).GetProperty("id").GetGuid();
    }

    public static async Task Deposit(this LedgerApp app, Guid fundId, Guid poolId, decimal amount, string reference, string currency = "USD")
    {
        var response = await app.Finance().PostJson($"/api/funds/{fundId}/pools/{poolId}/deposits",
            new { amount = new { amount, currency }, bankReference = reference, valueDate = "2011-05-30" });
        await response.ShouldBe(201);
    }

    /// <summary>What the claims feature will do on approval: send RecordEntitlement.</summary>
    /// <param name="buyer">The buyer's key; null: the claim is paid on its own.</param>
    public static async Task<Guid> Entitle(this LedgerApp app, Guid fundId, int n, decimal amount, string supplier = "someone", Guid? caseId = null, string currency = "USD",
        string? buyer = null)
    {
        var claimId = Guid.CreateVersion7();
        // A batch of one, handled now (RecordEntitlement is handled in batches; see RecordEntitlementHandler).
        await app.Host.Services.GetRequiredService<IMessageBus>().InvokeAsync(new[] { new RecordEntitlement(fundId, claimId, $"CL-2011-{n:D6}",
            caseId ?? Guid.Empty, "Alibaba.com", supplier, "GB", Money.Of(amount, currency), "claims.approver", buyer) });
        return claimId;
    }

    public static async Task<JsonElement> PrepareRound(this LedgerApp app, Guid fundId, string by = Preparer)
    {
        var response = await app.Finance(by).PostJson($"/api/funds/{fundId}/rounds", new { });
        await response.ShouldBe(201);
        return await response.Json();
    }

    public static async Task<JsonElement> GetFund(this LedgerApp app, Guid fundId, string role = Roles.Finance)
    {
        var response = await app.Client("reader", role).GetAsync($"/api/funds/{fundId}");
        await response.ShouldBe(200);
        return await response.Json();
    }

    public static JsonElement Pool(this JsonElement fund, Guid poolId) =>
        fund.GetProperty("pools").EnumerateArray().Single(p => p.GetProperty("id").GetGuid() == poolId);

    public static decimal Amount(this JsonElement element, string property) => element.GetProperty(property).GetProperty("amount").GetDecimal();
}
