using System.Text.Json;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.Cases;

/// <summary>Requests the fraud-case tests (and later features' tests) make over and over.</summary>
public static class CaseApi
{
    public static object PutianLike(string title = "Putian ring") => new
    {
        title,
        platforms = new[] { "Alibaba.com", "Made-in-China.com", "EC21.com", "ECPLAZA.net" },
        activeFrom = "2009-06-01",
        activeTo = "2011-02-28",
        estimatedLoss = new { amount = 6_600_000.00m, currency = "USD" },
    };

    public static async Task<Guid> OpenCase(this LedgerApp app, object? body = null)
    {
        var response = await app.Client("ivy", Roles.Investigator).PostJson("/api/cases", body ?? PutianLike());
        await response.ShouldBe(201);
        return (await response.Json()).GetProperty("id").GetGuid();
    }

    public static async Task<JsonElement> GetCase(this LedgerApp app, Guid caseId, string role = Roles.Investigator)
    {
        var response = await app.Client("reader", role).GetAsync($"/api/cases/{caseId}");
        await response.ShouldBe(200);
        return await response.Json();
    }

    public static async Task<long> EventCount(this LedgerApp app)
    {
        await using var session = app.Store.QuerySession();
        return await Marten.QueryableExtensions.CountAsync(session.Events.QueryAllRawEvents());
    }
}
