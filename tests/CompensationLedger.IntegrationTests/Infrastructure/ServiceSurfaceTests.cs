using System.Text.Json;
using CompensationLedger.Infrastructure;

namespace CompensationLedger.IntegrationTests.Infrastructure;

/// <summary>What anyone can reach without signing in: health probes, the OpenAPI document and the reference page.</summary>
public sealed class ServiceSurfaceTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task health_endpoints_answer_without_a_token_and_ready_checks_the_database()
    {
        var client = App.Client();
        var live = await client.GetAsync("/health/live");
        await live.ShouldBe(200);
        var ready = await client.GetAsync("/health/ready");
        await ready.ShouldBe(200);
        (await ready.Content.ReadAsStringAsync()).ShouldBe("Healthy");
    }

    [Fact]
    public async Task the_openapi_document_describes_every_endpoint_with_real_schemas()
    {
        var response = await App.Client().GetAsync("/openapi/v1.json");
        await response.ShouldBe(200);
        var document = await response.Json();
        var paths = document.GetProperty("paths");
        foreach (var path in new[] { "/api/cases", "/api/cases/{caseId}", "/api/cases/{caseId}/supplier-accounts", "/api/cases/{caseId}/bank-accounts" })
            paths.TryGetProperty(path, out _).ShouldBeTrue($"{path} is documented");

        var schemas = document.GetProperty("components").GetProperty("schemas");
        schemas.GetProperty("LocalDate").GetProperty("type").GetString().ShouldBe("string");
        schemas.GetProperty("LocalDate").GetProperty("format").GetString().ShouldBe("date");
        schemas.GetProperty("Instant").GetProperty("format").GetString().ShouldBe("date-time");
        var money = schemas.GetProperty("Money");
        money.GetProperty("properties").GetProperty("amount").GetProperty("type").GetString().ShouldBe("number");
        money.GetProperty("properties").GetProperty("currency").GetProperty("pattern").GetString().ShouldBe("^[A-Z]{3}$");
        money.GetProperty("properties").TryGetProperty("isNegative", out _).ShouldBeFalse();

        // No schema is an empty {} (what NodaTime types become without help).
        foreach (var schema in schemas.EnumerateObject())
            schema.Value.EnumerateObject().Any().ShouldBeTrue($"schema {schema.Name} is empty");

        var openCase = paths.GetProperty("/api/cases").GetProperty("post");
        openCase.GetProperty("parameters").EnumerateArray().ShouldContain(p => p.GetProperty("name").GetString() == IdempotencyMiddleware.Header);
        foreach (var status in new[] { "201", "400", "401", "403", "409", "422" })
            openCase.GetProperty("responses").TryGetProperty(status, out _).ShouldBeTrue($"POST /api/cases documents {status}");
        document.GetProperty("components").GetProperty("securitySchemes").TryGetProperty("bearer", out _).ShouldBeTrue();
    }

    [Fact]
    public async Task the_api_reference_page_is_served_without_a_cdn()
    {
        var client = App.Client();
        var page = await client.GetAsync("/docs/");
        await page.ShouldBe(200);
        page.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        var html = await page.Content.ReadAsStringAsync();
        html.ShouldContain("openapi/v1.json");
        html.ShouldNotContain("cdn.");
        await (await client.GetAsync("/docs/scalar.js")).ShouldBe(200);
    }

    [Fact]
    public async Task errors_are_problem_details_with_a_stable_code()
    {
        var client = App.Client("ivy", Roles.Investigator);
        var problem = await (await client.GetAsync("/api/no-such-thing")).ShouldBeProblem(404);
        problem.GetProperty("code").GetString().ShouldBe("not-found");
        var _ = JsonSerializer.Serialize(problem);
    }
}
