using System.Net.Http.Headers;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using Microsoft.Playwright;
using NodaTime;

namespace CompensationLedger.IntegrationTests.Browser;

/// <summary>
/// A buyer in a real browser (Debian's Chromium, headless, driven by Playwright; no browser
/// download) against the running service: types the reference and code, sees the status and the
/// timeline, answers the information request with a document, and a screenshot is kept.
/// </summary>
[Collection(LedgerCollection.Name)]
public sealed class StatusPageBrowserTests(LedgerApp app)
{
    public const string Chromium = "/usr/bin/chromium";

    [Fact]
    public async Task a_buyer_checks_the_claim_and_answers_the_information_request_in_a_browser()
    {
        File.Exists(Chromium).ShouldBeTrue($"{Chromium} is missing: install Debian's chromium package (.ci/run does).");
        var database = await app.Server.CreateDatabaseAsync("ledger_browser");
        await using var service = await RunningService.StartAsync(database, LedgerApp.SigningKey, "compensation-ledger-tests");
        string reference, accessCode;
        try
        {
            (reference, accessCode) = await ClaimAwaitingInformation(service.BaseAddress);
        }
        catch (Exception e) when (e is ShouldAssertException or HttpRequestException)
        {
            throw new InvalidOperationException($"Setting up the claim failed; the service said:\n{service.Output}", e);
        }

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 390, Height = 844 }, JavaScriptEnabled = false });

        await page.GotoAsync(new Uri(service.BaseAddress, "/status").ToString());
        await page.GetByLabel("Claim reference").FillAsync(reference);
        await page.GetByLabel("Access code").FillAsync(accessCode);
        await page.GetByRole(AriaRole.Button, new() { Name = "Show my claim" }).ClickAsync();

        (await page.Locator("#status").InnerTextAsync()).ShouldBe("Waiting for information from you");
        (await page.Locator("#missing").InnerTextAsync()).ShouldContain("Bank transfer receipt");
        (await page.Locator("#timeline").InnerTextAsync()).ShouldContain("Information requested");

        var receipt = Path.Combine(Path.GetTempPath(), $"receipt-{Guid.NewGuid():N}.pdf");
        await File.WriteAllTextAsync(receipt, "%PDF-1.4 transfer receipt");
        try
        {
            await page.GetByLabel("Your answer").FillAsync("The receipt from my bank is attached.");
            await page.GetByLabel("Documents").SetInputFilesAsync(receipt);
            await page.GetByRole(AriaRole.Button, new() { Name = "Send my answer" }).ClickAsync();
        }
        finally
        {
            File.Delete(receipt);
        }

        (await page.Locator("#notice").InnerTextAsync()).ShouldContain("your answer was recorded");
        (await page.Locator("#timeline").InnerTextAsync()).ShouldContain("Information received");
        (await page.Locator("#status").InnerTextAsync()).ShouldNotBe("Waiting for information from you");

        var screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        var shot = Path.Combine(screenshots, "status-page.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        new FileInfo(shot).Length.ShouldBeGreaterThan(10_000);
    }

    /// <summary>Staff set up a case and a claim over the service's API, then ask the buyer for a receipt.</summary>
    private static async Task<(string Reference, string AccessCode)> ClaimAwaitingInformation(Uri service)
    {
        HttpClient Staff(string name, string role)
        {
            var client = new HttpClient { BaseAddress = service };
            var token = new AuthSettings { Issuer = "compensation-ledger-tests", SigningKey = LedgerApp.SigningKey }
                .MintToken(name, [role], SystemClock.Instance.GetCurrentInstant(), Duration.FromHours(1));
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            return client;
        }

        var today = SystemClock.Instance.GetCurrentInstant().InUtc().Date;
        var paid = today.PlusDays(-20);
        var investigator = Staff("ivy", Roles.Investigator);
        var opened = await investigator.PostJson("/api/cases", new
        {
            title = "Browser test ring",
            platforms = new[] { "Alibaba.com" },
            activeFrom = today.PlusDays(-200).ToString("uuuu-MM-dd", null),
            activeTo = today.ToString("uuuu-MM-dd", null),
            estimatedLoss = new { amount = 100_000m, currency = "USD" },
        });
        await opened.ShouldBe(201);
        var caseId = (await opened.Json()).GetProperty("id").GetGuid();
        await (await investigator.PostJson($"/api/cases/{caseId}/supplier-accounts",
            new { accounts = new[] { new { platform = "Alibaba.com", accountId = "cnbrowser", displayName = "Browser Electronics" } } })).ShouldBe(200);
        await (await investigator.PostJson($"/api/cases/{caseId}/bank-accounts",
            new { accounts = new[] { new { accountNumber = "6222 0000 1111 2222" } } })).ShouldBe(200);

        var handler = Staff("hana", Roles.ClaimsHandler);
        var filing = Claims.ClaimApi.Filing(caseId, "TT-BROWSER-1", supplier: "cnbrowser", paymentDate: paid.ToString("uuuu-MM-dd", null));
        filing["orderDate"] = paid.PlusDays(-3).ToString("uuuu-MM-dd", null);
        filing["beneficiaryAccount"] = "6222 0000 1111 2222";
        var filed = await handler.PostJson("/api/claims", filing);
        await filed.ShouldBe(201);
        var claim = await filed.Json();
        var claimId = claim.GetProperty("id").GetGuid();

        await (await Act(handler, claimId, "verification", new { }, 1)).ShouldBe(200);
        await (await Act(handler, claimId, "info-requests", new { missing = new[] { "Bank transfer receipt" } }, 2)).ShouldBe(200);
        return (claim.GetProperty("reference").GetString()!, claim.GetProperty("accessCode").GetString()!);
    }

    private static Task<HttpResponseMessage> Act(HttpClient client, Guid claimId, string action, object body, int version)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/claims/{claimId}/{action}")
        {
            Content = JsonContent(body),
        };
        request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{version}\""));
        return client.SendAsync(request);
    }

    private static StringContent JsonContent(object body) =>
        new(System.Text.Json.JsonSerializer.Serialize(body, LedgerApp.Json), System.Text.Encoding.UTF8, "application/json");
}
