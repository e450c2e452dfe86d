using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Alba;
using CompensationLedger.Infrastructure;
using JasperFx.CommandLine;
using JasperFx.Resources;
using Marten;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NodaTime;
using NodaTime.Testing;
using Wolverine;

namespace CompensationLedger.IntegrationTests.Infrastructure;

/// <summary>
/// The service, hosted once for the whole run on a real PostgreSQL, with a fake clock.
/// Each test class calls <see cref="ResetAsync"/> through <see cref="IntegrationTest"/> so every test starts from an empty ledger.
/// </summary>
public sealed class LedgerApp : IAsyncLifetime
{
    public const string SigningKey = "integration-test-signing-key-0123456789abcdef";
    public static readonly Instant Start = Instant.FromUtc(2011, 4, 11, 8, 0);

    public TestDatabaseServer Server { get; private set; } = null!;
    public IAlbaHost Host { get; private set; } = null!;
    public FakeClock Clock { get; } = new(Start);
    public string ConnectionString { get; private set; } = "";

    public static readonly JsonSerializerOptions Json = CreateJson();

    private static JsonSerializerOptions CreateJson()
    {
        var json = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        LedgerSetup.ConfigureApiJson(json);
        json.UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Skip;
        return json;
    }

    public async Task InitializeAsync()
    {
        Server = await TestDatabaseServer.StartAsync();
        ConnectionString = await Server.CreateDatabaseAsync("ledger_tests");
        JasperFxEnvironment.AutoStartHost = true;
        Host = await AlbaHost.For<Program>(builder =>
        {
            builder.UseEnvironment("Testing");
            builder.UseSetting("ConnectionStrings:Ledger", ConnectionString);
            builder.UseSetting("Auth:SigningKey", SigningKey);
            builder.UseSetting("Auth:Issuer", "compensation-ledger-tests");
            // The paid-vs-lost rollup advances when a test says so (ClaimTotalsRollupTests), not on a timer racing the reset's truncates.
            builder.UseSetting(CompensationLedger.Reports.ClaimTotalsRollupWriter.IntervalKey, "0");
            builder.ConfigureServices(services => services.AddSingleton<IClock>(Clock));
        });
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        await Server.DisposeAsync();
    }

    public IDocumentStore Store => Host.Services.GetRequiredService<IDocumentStore>();

    /// <summary>An empty ledger, and the clock back at <see cref="Start"/>.</summary>
    public async Task ResetAsync()
    {
        Clock.Reset(Start);
        Host.Services.GetRequiredService<CompensationLedger.StatusLookup.LookupGuard>().Reset();
        await Host.ResetResourceState();
        // A message of the previous test still being handled (a batch of entitlements, a scheduled retry) can take its
        // locks in another order than the reset's deletes: PostgreSQL then aborts one side as a deadlock. Emptying the
        // tables again is harmless, so the reset is simply run again.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await Store.Advanced.ResetAllData();
                break;
            }
            catch (Npgsql.PostgresException e) when (e.SqlState == Npgsql.PostgresErrorCodes.DeadlockDetected && attempt < 5)
            {
                await Task.Delay(100 * attempt);
            }
        }
        await using var session = Store.LightweightSession();
        session.QueueSqlCommand($"truncate {LedgerSetup.Schema}.{IdempotencyMiddleware.TableName}");
        // The report tables are projections' own tables, which ResetAllData (documents and events) leaves alone.
        foreach (var table in CompensationLedger.Reports.FundReportProjection.Tables.Concat(CompensationLedger.Reports.ClaimTotalsProjection.Tables))
            session.QueueSqlCommand($"truncate {LedgerSetup.Schema}.{table}");
        await session.SaveChangesAsync();
    }

    public string Token(string name, params string[] roles) =>
        new AuthSettings { Issuer = "compensation-ledger-tests", SigningKey = SigningKey }
            .MintToken(name, roles, SystemClock.Instance.GetCurrentInstant(), Duration.FromHours(1));

    public HttpClient Client(string? name = null, params string[] roles)
    {
        var client = Host.Server.CreateClient();
        if (name is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token(name, roles));
        return client;
    }
}

public static class HttpExtensions
{
    public static Task<HttpResponseMessage> PostJson(this HttpClient client, string url, object body, string? idempotencyKey = null) =>
        client.PostRaw(url, JsonSerializer.Serialize(body, LedgerApp.Json), idempotencyKey);

    public static Task<HttpResponseMessage> PostRaw(this HttpClient client, string url, string json, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        if (idempotencyKey is not null) request.Headers.Add(IdempotencyMiddleware.Header, idempotencyKey);
        return client.SendAsync(request);
    }

    public static async Task<T> Read<T>(this HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<T>(LedgerApp.Json))!;

    public static async Task<JsonElement> Json(this HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();

    /// <summary>Asserts the status and that the body is problem details, returning it for further checks.</summary>
    public static async Task<JsonElement> ShouldBeProblem(this HttpResponseMessage response, int status)
    {
        var body = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(status, body);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json", body);
        var json = JsonDocument.Parse(body).RootElement.Clone();
        json.GetProperty("status").GetInt32().ShouldBe(status);
        return json;
    }

    public static async Task ShouldBe(this HttpResponseMessage response, int status)
    {
        var body = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(status, body);
    }

    public static string[] ErrorFields(this JsonElement problem) =>
        problem.TryGetProperty("errors", out var errors) ? errors.EnumerateObject().Select(e => e.Name).ToArray() : [];
}

[CollectionDefinition(Name)]
public sealed class LedgerCollection : ICollectionFixture<LedgerApp>
{
    public const string Name = "ledger";
}

/// <summary>Base for integration tests: one shared host, an empty ledger per test.</summary>
[Collection(LedgerCollection.Name)]
public abstract class IntegrationTest(LedgerApp app) : IAsyncLifetime
{
    protected LedgerApp App { get; } = app;

    public Task InitializeAsync() => App.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;
}
