using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace CompensationLedger.IntegrationTests.Infrastructure;

/// <summary>
/// Walks every endpoint the service maps: without a token each staff endpoint is 401, and with each
/// role it does not allow it is 403. New endpoints are covered the moment they are mapped.
/// </summary>
public sealed partial class AuthorizationMatrixTests(LedgerApp app) : IntegrationTest(app)
{
    /// <summary>Endpoints meant for people without a staff account: buyers and infrastructure probes.</summary>
    private static readonly string[] PublicPrefixes = ["/health/", "/openapi/", "/docs", "/status", "/api/status-lookups"];

    public sealed record Route(string Method, string Pattern, bool Anonymous, string[] Roles);

    private IReadOnlyList<Route> Routes() =>
        App.Host.Services.GetServices<EndpointDataSource>()
            .SelectMany(source => source.Endpoints)
            .OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<HttpMethodMetadata>() is not null)
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Select(method => new Route(
                method,
                "/" + e.RoutePattern.RawText!.TrimStart('/'),
                e.Metadata.GetMetadata<IAllowAnonymous>() is not null,
                e.Metadata.GetOrderedMetadata<IAuthorizeData>()
                    .SelectMany(a => (a.Roles ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    .Distinct().ToArray())))
            .DistinctBy(r => (r.Method, r.Pattern))
            .ToList();

    private static string Url(string pattern) => RouteParameter().Replace(pattern, _ => Guid.NewGuid().ToString());

    private HttpRequestMessage Request(Route route, string? role)
    {
        var request = new HttpRequestMessage(new HttpMethod(route.Method), Url(route.Pattern));
        if (route.Method is "POST" or "PUT" or "PATCH") request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        if (role is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", App.Token("mallory", role));
        return request;
    }

    [Fact]
    public void every_api_endpoint_names_the_roles_it_allows_or_is_explicitly_for_buyers()
    {
        var routes = Routes();
        routes.ShouldContain(r => r.Pattern == "/api/cases" && r.Method == "POST");

        foreach (var route in routes.Where(r => r.Pattern.StartsWith("/api/", StringComparison.Ordinal)))
        {
            var isPublic = PublicPrefixes.Any(p => route.Pattern.StartsWith(p, StringComparison.Ordinal));
            if (isPublic) route.Anonymous.ShouldBeTrue($"{route.Method} {route.Pattern} is a buyer endpoint and should say [AllowAnonymous]");
            else
            {
                route.Anonymous.ShouldBeFalse($"{route.Method} {route.Pattern} must not be anonymous");
                route.Roles.ShouldNotBeEmpty($"{route.Method} {route.Pattern} must name its roles");
                route.Roles.ShouldAllBe(r => Roles.All.Contains(r));
            }
        }

        // Anything anonymous must be on the public list.
        routes.Where(r => r.Anonymous).ShouldAllBe(r => PublicPrefixes.Any(p => r.Pattern.StartsWith(p, StringComparison.Ordinal)) || r.Pattern == "/");
    }

    [Fact]
    public async Task every_staff_endpoint_refuses_a_request_without_a_token()
    {
        var client = App.Client();
        var staffRoutes = Routes().Where(r => !r.Anonymous).ToList();
        staffRoutes.Count.ShouldBeGreaterThan(3);

        foreach (var route in staffRoutes)
        {
            var response = await client.SendAsync(Request(route, role: null));
            ((int)response.StatusCode).ShouldBe(401, $"{route.Method} {route.Pattern} without a token");
            response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        }

        var forged = Request(staffRoutes.First(), role: null);
        forged.Headers.Authorization = new AuthenticationHeaderValue("Bearer", App.Token("mallory", Roles.Investigator)[..^4] + "AAAA");
        ((int)(await client.SendAsync(forged)).StatusCode).ShouldBe(401, "a token with a broken signature");
        (await App.EventCount()).ShouldBe(0);
    }

    [Fact]
    public async Task every_staff_endpoint_refuses_each_role_it_does_not_allow()
    {
        var client = App.Client();
        var checkedPairs = 0;
        foreach (var route in Routes().Where(r => !r.Anonymous))
        {
            foreach (var role in Roles.All.Except(route.Roles))
            {
                var response = await client.SendAsync(Request(route, role));
                ((int)response.StatusCode).ShouldBe(403, $"{route.Method} {route.Pattern} as {role}");
                checkedPairs++;
            }
        }
        checkedPairs.ShouldBeGreaterThan(0);
        (await App.EventCount()).ShouldBe(0);
    }

    [Fact]
    public async Task a_token_without_any_staff_role_is_refused()
    {
        var client = App.Client();
        var request = new HttpRequestMessage(HttpMethod.Get, "/api/cases");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", App.Token("buyer"));
        ((int)(await client.SendAsync(request)).StatusCode).ShouldBe(403);
    }

    [GeneratedRegex(@"\{[^}]+\}")]
    private static partial Regex RouteParameter();
}
