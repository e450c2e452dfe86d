using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.Claims;

/// <summary>Requests the claim tests make over and over: a Putian-like case with flags, filings, commands with If-Match.</summary>
public static class ClaimApi
{
    public const string FlaggedSupplier = "cnxinda2010";
    public const string FlaggedEcplazaSupplier = "huaxin-ep";
    public const string FlaggedCard = "6222 3402 0000 7919";

    public static HttpClient Handler(this LedgerApp app, string name = "hana") => app.Client(name, Roles.ClaimsHandler);

    public static HttpClient Approver(this LedgerApp app, string name = "abe") => app.Client(name, Roles.ClaimsApprover);

    /// <summary>A Putian-like case with one flagged supplier on Alibaba.com, one on ECPLAZA.net (which the fund does not pay) and one flagged card.</summary>
    public static async Task<Guid> OpenFlaggedCase(this LedgerApp app)
    {
        var caseId = await app.OpenCase();
        var investigator = app.Client("ivy", Roles.Investigator);
        await (await investigator.PostJson($"/api/cases/{caseId}/supplier-accounts", new
        {
            accounts = new[]
            {
                new { platform = "Alibaba.com", accountId = FlaggedSupplier, displayName = "Putian Xinda Electronics Co., Ltd." },
                new { platform = "ECPLAZA.net", accountId = FlaggedEcplazaSupplier, displayName = "Huaxin Digital" },
            },
        })).ShouldBe(200);
        await (await investigator.PostJson($"/api/cases/{caseId}/bank-accounts",
            new { accounts = new[] { new { accountNumber = FlaggedCard, bankName = "ICBC", country = "CN" } } })).ShouldBe(200);
        return caseId;
    }

    public static Dictionary<string, object?> Filing(Guid caseId, string paymentReference = "TT-2011-0042", decimal amount = 1400.00m, string currency = "USD",
        string platform = "Alibaba.com", string supplier = FlaggedSupplier, string paymentDate = "2011-02-10", string buyer = "Jane Buyer") => new()
    {
        ["caseId"] = caseId,
        ["buyer"] = new Dictionary<string, object?> { ["name"] = buyer, ["country"] = "US", ["email"] = "jane@example.com", ["company"] = "Buyer Imports LLC" },
        ["platform"] = platform,
        ["supplierAccount"] = supplier,
        ["orderReference"] = "ORD-7781",
        ["orderDate"] = "2011-02-01",
        ["paymentDate"] = paymentDate,
        ["amountPaid"] = new { amount, currency },
        ["paymentReference"] = paymentReference,
        ["goodsDescription"] = "200 laptops at a third of the market price",
        ["beneficiaryAccount"] = FlaggedCard,
        ["evidence"] = new[] { new { name = "transfer-receipt.pdf", sha256 = new string('a', 64) } },
    };

    public static async Task<JsonElement> FileClaim(this LedgerApp app, object filing)
    {
        var response = await app.Handler().PostJson("/api/claims", filing);
        await response.ShouldBe(201);
        return await response.Json();
    }

    public static async Task<Guid> FileClaimId(this LedgerApp app, object filing) => (await app.FileClaim(filing)).GetProperty("id").GetGuid();

    public static async Task<JsonElement> GetClaim(this LedgerApp app, Guid claimId)
    {
        var response = await app.Client("reader", Roles.Auditor).GetAsync($"/api/claims/{claimId}");
        await response.ShouldBe(200);
        return await response.Json();
    }

    public static async Task<int> Version(this LedgerApp app, Guid claimId) => (await app.GetClaim(claimId)).GetProperty("version").GetInt32();

    public static async Task<string> Status(this LedgerApp app, Guid claimId) => (await app.GetClaim(claimId)).GetProperty("status").GetString()!;

    /// <summary>POSTs a command on a claim with If-Match set to <paramref name="version"/>, or to the current version when null.</summary>
    public static async Task<HttpResponseMessage> Act(this LedgerApp app, HttpClient client, Guid claimId, string action, object body, int? version = null)
    {
        var expected = version ?? await app.Version(claimId);
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/claims/{claimId}/{action}")
        {
            Content = new StringContent(JsonSerializer.Serialize(body, LedgerApp.Json), Encoding.UTF8, "application/json"),
        };
        request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{expected}\""));
        return await client.SendAsync(request);
    }

    public static async Task<JsonElement> Verify(this LedgerApp app, Guid claimId, string verifier = "hana")
    {
        var response = await app.Act(app.Handler(verifier), claimId, "verification", new { });
        await response.ShouldBe(200);
        return await response.Json();
    }
}
