using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using NodaTime;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// OpenAPI at /openapi/v1.json with real schemas for NodaTime types (ISO strings) and money
/// (a decimal amount and an ISO 4217 code), and the bearer scheme staff sign in with.
/// </summary>
public static class OpenApiSetup
{
    public static IServiceCollection AddLedgerOpenApi(this IServiceCollection services) =>
        services.AddOpenApi("v1", options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "CompensationLedger API",
                    Version = "v1",
                    Description = "The ledger of a fund that compensates buyers defrauded by fake suppliers: fraud cases, claims, payouts and reports. "
                                  + "Staff sign in with a bearer token (JWT) carrying a name and roles; buyers use their claim reference and access code.",
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    BearerFormat = "JWT",
                    Description = "A staff token with a 'name' claim and 'role' claims (investigator, claims-handler, claims-approver, finance, auditor).",
                };
                document.Security ??= [];
                document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] });
                return Task.CompletedTask;
            });

            options.AddOperationTransformer((operation, context, _) =>
            {
                var metadata = context.Description.ActionDescriptor.EndpointMetadata;
                operation.Responses ??= new OpenApiResponses();
                if (metadata.OfType<Microsoft.AspNetCore.Authorization.IAllowAnonymous>().Any())
                {
                    operation.Security = [];
                }
                else
                {
                    var roles = metadata.OfType<Microsoft.AspNetCore.Authorization.IAuthorizeData>()
                        .SelectMany(a => (a.Roles ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        .Distinct().ToArray();
                    operation.Description = $"Roles: {(roles.Length > 0 ? string.Join(", ", roles) : "any staff")}." +
                                            (operation.Description is { Length: > 0 } d && !d.Contains('_', StringComparison.Ordinal) ? " " + d : "");
                    Problem(operation, "401", "Not signed in: no or an invalid bearer token.");
                    Problem(operation, "403", "Signed in, but no role that allows this.");
                }
                if (string.Equals(context.Description.HttpMethod, "POST", StringComparison.OrdinalIgnoreCase))
                {
                    operation.Parameters ??= [];
                    operation.Parameters.Add(new OpenApiParameter
                    {
                        Name = IdempotencyMiddleware.Header,
                        In = ParameterLocation.Header,
                        Required = false,
                        Description = "Makes a retry safe: the same key with the same body returns the first response and changes nothing; with another body it is 422.",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = IdempotencyMiddleware.MaxKeyLength },
                    });
                    Problem(operation, "409", "Refused by a business rule (wrong state, already done, four eyes); the code says which.");
                    Problem(operation, "422", "The Idempotency-Key was already used with a different request.");
                }
                if (context.Description.ParameterDescriptions.Any(p => p.Source.Id == "Path")) Problem(operation, "404", "No such resource.");
                Problem(operation, "400", "Invalid input; 'errors' names each field.");
                return Task.CompletedTask;
            });

            options.AddSchemaTransformer((schema, context, _) =>
            {
                var type = Nullable.GetUnderlyingType(context.JsonTypeInfo.Type) ?? context.JsonTypeInfo.Type;
                if (type == typeof(LocalDate)) Iso(schema, "date", "2011-03-15");
                else if (type == typeof(Instant)) Iso(schema, "date-time", "2011-04-11T08:00:00Z");
                else if (type == typeof(LocalDateTime)) Iso(schema, null, "2011-04-11T08:00:00", @"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$");
                else if (type == typeof(Duration)) Iso(schema, null, "1:00:00:00", null);
                else if (type == typeof(decimal))
                {
                    schema.Type = JsonSchemaType.Number;
                    schema.Format = "decimal";
                    schema.Pattern = null;
                }
                else if (type == typeof(Money))
                {
                    schema.Description = "Money: a decimal amount (no more decimal places than ISO 4217 allows for the currency: USD 2, JPY 0) and a currency code.";
                    schema.Required = new HashSet<string> { "amount", "currency" };
                    if (schema.Properties?.TryGetValue("currency", out var currency) == true && currency is OpenApiSchema c)
                    {
                        c.Pattern = "^[A-Z]{3}$";
                        c.Description = "ISO 4217 code, e.g. USD, EUR, JPY.";
                    }
                    schema.Examples = [new JsonObject { ["amount"] = 1400.00m, ["currency"] = "USD" }];
                }
                return Task.CompletedTask;
            });

            // Commands on an existing claim require the expected version: say so on each of them.
            options.AddOperationTransformer((operation, context, _) =>
            {
                if (context.Description.ActionDescriptor.EndpointMetadata.OfType<Claims.RequiresExpectedVersionAttribute>().Any())
                {
                    operation.Parameters ??= [];
                    operation.Parameters.Add(new OpenApiParameter
                    {
                        Name = "If-Match",
                        In = ParameterLocation.Header,
                        Required = true,
                        Description = "The claim's version you last read, quoted: the ETag of GET /api/claims/{claimId} (e.g. \"3\"). Missing: 428; stale: 412.",
                        Schema = new OpenApiSchema { Type = JsonSchemaType.String, Pattern = "^(W/)?\"[0-9]+\"$" },
                    });
                }
                return Task.CompletedTask;
            });
        });

    private static void Problem(OpenApiOperation operation, string status, string description)
    {
        if (operation.Responses!.ContainsKey(status)) return;
        operation.Responses[status] = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/problem+json"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.Object, Description = "RFC 9457 problem details with a stable 'code'." } },
            },
        };
    }

    private static void Iso(OpenApiSchema schema, string? format, string example, string? pattern = null)
    {
        schema.Type = JsonSchemaType.String;
        schema.Format = format;
        schema.Pattern = pattern;
        schema.Properties?.Clear();
        schema.Examples = [JsonValue.Create(example)];
    }
}
