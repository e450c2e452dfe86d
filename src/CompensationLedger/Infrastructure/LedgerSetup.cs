using System.Text.Json;
using System.Text.Json.Serialization;
using CompensationLedger.Cases;
using CompensationLedger.Claims;
using CompensationLedger.ExchangeRates;
using JasperFx;
using JasperFx.CodeGeneration;
using JasperFx.Events.Projections;
using Marten;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using NodaTime;
using Npgsql;
using Scalar.AspNetCore;
using Weasel.Core;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;

namespace CompensationLedger.Infrastructure;

public static class LedgerSetup
{
    /// <summary>
    /// How the ledger's documents and events are stored (JSON, NodaTime, stream identity, no headers): the one definition
    /// shared by the service's store and any store a test builds beside it.
    /// </summary>
    public static void UseLedgerStorage(this StoreOptions options)
    {
        options.UseSystemTextJsonForSerialization(EnumStorage.AsString, Casing.CamelCase, json => json.ConfigureLedgerJson());
        options.UseLedgerNodaTime();
        options.Events.StreamIdentity = JasperFx.Events.StreamIdentity.AsGuid;
        options.Events.MetadataConfig.HeadersEnabled = false;
    }

    /// <summary>Marten's schema for documents and events; Wolverine keeps its envelopes in <see cref="WolverineSchema"/>.</summary>
    public const string Schema = "ledger";
    public const string WolverineSchema = "wolverine";

    /// <summary>Whether a connection string sets Max Auto Prepare itself (any spelling Npgsql accepts).</summary>
    public static bool SetsAutoPrepare(string connectionString) =>
        new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
            .Any(k => k.Replace(" ", "", StringComparison.Ordinal).Equals("MaxAutoPrepare", StringComparison.OrdinalIgnoreCase));

    public static WebApplicationBuilder AddLedger(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var configuration = builder.Configuration;
        var production = builder.Environment.IsProduction();

        services.AddSingleton<IClock>(SystemClock.Instance);
        services.AddSingleton<LedgerDatabase>();
        services.AddSingleton(ClaimPolicySettings.From(configuration));

        var marten = services.AddMarten(sp =>
            {
                var database = sp.GetRequiredService<LedgerDatabase>();
                var options = new StoreOptions();
                var dataSource = new NpgsqlDataSourceBuilder(database.ConnectionString);
                // Npgsql prepares the statements it sees repeatedly (every filing and lookup runs the same few): PostgreSQL then
                // skips parsing and planning them, which halved its time per filing and per lookup (issue #7, PROFILING.md).
                // A connection string that sets Max Auto Prepare itself (0 turns it off) wins.
                if (!SetsAutoPrepare(database.ConnectionString))
                {
                    dataSource.ConnectionStringBuilder.MaxAutoPrepare = 100;
                    dataSource.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
                }
                dataSource.UseNodaTime();
                options.Connection(dataSource.Build());
                options.DatabaseSchemaName = Schema;
                options.UseLedgerStorage();

                // Read models kept in the same transaction as the events that change them.
                options.Projections.Snapshot<FraudCase>(SnapshotLifecycle.Inline);
                options.Schema.For<FraudCase>().Index(c => c.OpenedAt);
                // The fund's stream is its books; its snapshot is read for every money decision (FetchForWriting) and for GET /api/funds.
                options.Projections.Snapshot<Funds.Fund>(SnapshotLifecycle.Inline);
                options.Projections.Add(new Funds.FundIndexProjection(), ProjectionLifecycle.Inline);
                options.Schema.For<Funds.FundIndexEntry>();
                // Which fund covers a case (one document per case: the key keeps it to one fund) and that fund's terms, so filing,
                // approval and the buyer status lookup never load the fund document.
                options.Projections.Add(new Funds.CaseCoverageProjection(), ProjectionLifecycle.Inline);
                options.Schema.For<Funds.CaseCoverage>();
                options.Projections.Snapshot<Funds.FundTerms>(SnapshotLifecycle.Inline);

                options.Storage.ExtendedSchemaObjects.Add(IdempotencyMiddleware.Table(Schema));

                // Claims: the claim stream's read model inline; buyer personal data, access-code hashes and
                // duplicate fingerprints as documents beside (not in) the events; the reference number sequence.
                options.Projections.Snapshot<Claim>(SnapshotLifecycle.Inline);
                options.Schema.For<Claim>().Index(c => c.CaseId).Index(c => c.FiledAt).UniqueIndex(c => c.Reference);
                // Verification reads a claim's fingerprints by claim: indexed, or every verification scans every fingerprint (the benchmark saw 7 verifications/s at 100k claims).
                options.Schema.For<ClaimFingerprint>().Index(f => f.ClaimId);
                options.Schema.For<BuyerDetails>();
                options.Schema.For<ClaimAccess>().UniqueIndex(a => a.Reference);
                options.Storage.ExtendedSchemaObjects.Add(ClaimReferences.Sequence(Schema));

                // Totals (DOMAIN.md): a typed row per claim and a row per event's change to it, kept inline from the claim and payout
                // events, so paid-versus-lost answers now and as of any instant with one SUM (Reports/TOTALS.md).
                options.Projections.Add(new Reports.ClaimTotalsProjection(Schema), ProjectionLifecycle.Inline);

                // Exchange rates finance recorded, one stream per currency pair, looked up by pair and day.
                options.Projections.Add<ExchangeRateProjection>(ProjectionLifecycle.Inline);

                // The fund reports (statement, trial balance, payout register, reconciliation) answer from tables kept inline
                // from the fund events, never by replaying the fund stream or reading the fund document (Reports/TOTALS.md).
                options.Projections.Add(new Reports.FundReportProjection(Schema), ProjectionLifecycle.Inline);

                // Rebuilds replay in large pages and write each aggregate once (ProjectionRebuilds); keep this after the last projection.
                ProjectionRebuilds.Tune(options.Projections);

                // Production never creates or alters schema objects: the numbered scripts in migrations/ do (see README).
                options.AutoCreateSchemaObjects = production ? AutoCreate.None : AutoCreate.CreateOrUpdate;
                return options;
            })
            .UseLightweightSessions()
            .IntegrateWithWolverine(wolverine => wolverine.MessageStorageSchemaName = WolverineSchema);
        // Outside Production the schema is built at start, all of it: objects used only through SQL
        // (the claim reference sequence, the idempotency table) are never created lazily by Marten.
        if (!production)
        {
            marten.ApplyAllDatabaseChangesOnStartup();
            // Right after the schema changes and before Wolverine starts (hosted services start in this order): a message left in the
            // durable inbox (an approval's entitlement) must not write to the fund before the rows it needs are filled from the
            // snapshots, since its write drops them from the snapshot it rewrites.
            services.AddHostedService<Reports.ReportFillsOnStart>();
        }

        builder.Host.UseWolverine(opts =>
        {
            opts.ApplicationAssembly = typeof(LedgerSetup).Assembly;
            // Wolverine's handlers and endpoints are pre-generated C# (src/CompensationLedger/Internal/Generated, written by
            // `dotnet run --project src/CompensationLedger -- codegen write`; CI regenerates them and fails on a difference).
            // Loading them instead of compiling with Roslyn at start saves the service ~2 s per endpoint's first request and the
            // memory Roslyn and its JIT code hold (issue #7). Auto: a handler missing from them is still compiled at run time
            // (Roslyn, as before), never dropped; nothing is written back to the source tree.
            opts.UseRuntimeCompilation();
            opts.CodeGeneration.TypeLoadMode = TypeLoadMode.Auto;
            opts.CodeGeneration.SourceCodeWritingEnabled = false;
            opts.Policies.AutoApplyTransactions();
            // Everything that touches money goes through durable queues and the transactional outbox.
            opts.Policies.UseDurableLocalQueues();
            opts.Policies.UseDurableOutboxOnAllSendingEndpoints();
            // Approvals reach the fund in batches: one load and one append of the fund's stream per batch.
            Funds.RecordEntitlementHandler.Batching(opts);
            opts.Durability.Mode = configuration.GetValue("Ledger:Durability:Solo", !production) ? DurabilityMode.Solo : DurabilityMode.Balanced;
            if (production) opts.AutoBuildMessageStorageOnStartup = AutoCreate.None;
        });

        services.AddWolverineHttp();
        services.ConfigureHttpJsonOptions(json => ConfigureApiJson(json.SerializerOptions));
        services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
        {
            // Wolverine.Http answers unreadable JSON itself; give it the same shape as every other 400: the fields, named.
            if (context.ProblemDetails is { Status: 400, Title: "Invalid JSON format", Detail: { } jsonMessage })
            {
                var errors = LedgerExceptionHandler.JsonErrors(jsonMessage);
                context.ProblemDetails.Type = Problems.TypeBase + "validation";
                context.ProblemDetails.Title = "The request is invalid.";
                context.ProblemDetails.Detail = $"Check these fields: {string.Join(", ", errors.Keys)}.";
                context.ProblemDetails.Extensions["errors"] = errors;
                context.ProblemDetails.Extensions["code"] = "validation";
                context.ProblemDetails.Extensions.Remove("lineNumber");
                context.ProblemDetails.Extensions.Remove("bytePositionInLine");
            }
            context.ProblemDetails.Instance ??= context.HttpContext.Request.Path;
            context.ProblemDetails.Extensions.TryAdd("traceId", context.HttpContext.TraceIdentifier);
            if (context.ProblemDetails.Status is { } status && !context.ProblemDetails.Extensions.ContainsKey("code"))
                context.ProblemDetails.Extensions["code"] = status switch
                {
                    401 => "not-signed-in",
                    403 => "forbidden",
                    404 => "not-found",
                    405 => "method-not-allowed",
                    415 => "unsupported-media-type",
                    _ => "http-" + status,
                };
            if (context.ProblemDetails.Status == 401) context.ProblemDetails.Detail ??= "Sign in: send a staff bearer token (see README: mint-token).";
            if (context.ProblemDetails.Status == 403) context.ProblemDetails.Detail ??= "Your roles do not allow this.";
        });
        services.AddExceptionHandler<LedgerExceptionHandler>();
        services.AddLedgerSecurity(configuration);
        services.AddLedgerOpenApi();
        services.AddHostedService<Demo.DemoSeedOnStart>();
        services.AddSingleton(configuration.GetSection("Ledger:StatusLookup").Get<StatusLookup.LookupLimits>() ?? new StatusLookup.LookupLimits());
        services.AddSingleton<StatusLookup.LookupGuard>();
        services.AddHostedService<Demo.FundDemoSeedOnStart>();
        services.AddHostedService<Reports.ClaimTotalsRollupWriter>();
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);
        return builder;
    }

    /// <summary>HTTP JSON: the ledger's shape, strict about what clients send.</summary>
    public static void ConfigureApiJson(JsonSerializerOptions json)
    {
        json.ConfigureLedgerJson();
        json.NumberHandling = JsonNumberHandling.Strict;
        json.RespectNullableAnnotations = true;
        json.RespectRequiredConstructorParameters = true;
        json.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        json.AllowTrailingCommas = false;
    }

    public static WebApplication UseLedger(this WebApplication app)
    {
        // Fail at start, with one sentence, rather than at the first signed-in request.
        _ = AuthSettings.From(app.Configuration).Key();

        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseMiddleware<IdempotencyMiddleware>();

        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") }).AllowAnonymous();
        app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
        app.MapScalarApiReference("/docs", scalar => scalar
                .WithTitle("CompensationLedger API")
                .WithOpenApiRoutePattern("/openapi/{documentName}.json"))
            .AllowAnonymous();
        app.MapGet("/", () => Results.Redirect("/docs")).AllowAnonymous().ExcludeFromDescription();
        StatusLookup.StatusPage.MapStatusPage(app);

        app.MapWolverineEndpoints(http =>
        {
            http.WarmUpRoutes = RouteWarmup.Lazy;
            http.RejectUnparseableQueryValues = true;
        });
        return app;
    }
}
