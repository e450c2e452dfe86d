using System.Text.Json;
using CompensationLedger.IntegrationTests.Claims;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.StatusLookup;

/// <summary>A filed claim as the buyer holds it: the reference and the access code they were given.</summary>
public sealed record BuyerCredentials(Guid ClaimId, string Reference, string AccessCode);

public static class BuyerApi
{
    public static async Task<BuyerCredentials> FileForBuyer(this LedgerApp app, Guid caseId, string paymentReference = "TT-2011-0042", decimal amount = 1400.00m,
        string platform = "Alibaba.com", string supplier = ClaimApi.FlaggedSupplier, string buyer = "Jane Buyer")
    {
        var filed = await app.FileClaim(ClaimApi.Filing(caseId, paymentReference, amount, platform: platform, supplier: supplier, buyer: buyer));
        return new BuyerCredentials(filed.GetProperty("id").GetGuid(), filed.GetProperty("reference").GetString()!, filed.GetProperty("accessCode").GetString()!);
    }

    public static Task<HttpResponseMessage> LookUp(this LedgerApp app, string reference, string accessCode) =>
        app.Client().PostJson("/api/status-lookups", new { reference, accessCode });

    public static async Task<JsonElement> Status(this LedgerApp app, BuyerCredentials buyer)
    {
        var response = await app.LookUp(buyer.Reference, buyer.AccessCode);
        await response.ShouldBe(200);
        return await response.Json();
    }
}
