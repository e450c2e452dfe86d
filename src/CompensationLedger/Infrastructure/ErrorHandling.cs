using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// The last line of defence: anything thrown becomes problem details. Malformed JSON and values
/// of the wrong shape are the client's error (400, naming the field); lost races are 409; a
/// database that cannot be reached is 503; everything else is a 500 that leaks no internals.
/// </summary>
public sealed class LedgerExceptionHandler(IProblemDetailsService problemDetails, ILogger<LedgerExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var problem = Map(exception);
        // A client that sent an expected version (If-Match) and lost the race to append was, in effect, stale.
        if (problem.Extensions.TryGetValue("code", out var code) && code is "concurrent-change" && Claims.ClaimVersions.HasExpectation(httpContext.Request))
            problem = Problems.Create(StatusCodes.Status412PreconditionFailed, "stale-version", "The claim changed since you read it.",
                "Someone else changed it at the same moment and their change won; nothing of yours was saved. Read it again and decide on what it says now.");
        if (problem.Extensions.TryGetValue("code", out var duplicate) && duplicate is "duplicate-claim" && FingerprintId(exception) is { } fingerprintId)
        {
            // The filing lost a race to a duplicate filed at the same moment: name the claim that won.
            await using var session = httpContext.RequestServices.GetRequiredService<Marten.IDocumentStore>().QuerySession();
            if (await session.LoadAsync<Claims.ClaimFingerprint>(fingerprintId, cancellationToken) is { } winner)
                problem = Claims.FileClaimEndpoint.Duplicate(winner).ToProblem();
        }
        if (problem.Status >= 500) logger.LogError(exception, "Request {Method} {Path} failed", httpContext.Request.Method, httpContext.Request.Path);
        else logger.LogInformation("Request {Method} {Path} refused: {Detail}", httpContext.Request.Method, httpContext.Request.Path, problem.Detail);

        httpContext.Response.StatusCode = problem.Status ?? 500;
        return await problemDetails.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    public static ProblemDetails Map(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case JsonException json:
                    return Problems.Invalid(JsonErrors(json.Message));
                case BadHttpRequestException bad when bad.InnerException is null:
                    return Problems.Invalid("$", bad.Message);
                case JasperFx.ConcurrencyException or JasperFx.Events.StreamLockedException or Marten.Exceptions.StreamLockedException
                    or Marten.Exceptions.ConcurrentUpdateException:
                    return Problems.Conflict("concurrent-change",
                        "Someone else changed this record at the same moment; nothing of yours was saved. Read it again and retry.");
                case JasperFx.DocumentAlreadyExistsException { DocType: var type } when type == typeof(Claims.ClaimFingerprint):
                    return Problems.Conflict("duplicate-claim", "This payment was claimed by another claim filed at the same moment; nothing was filed.");
                case JasperFx.DocumentAlreadyExistsException { DocType: var type } when type == typeof(Funds.CaseCoverage):
                    return Problems.Conflict("case-covered-by-another-fund",
                        "Another fund was declared to cover this case at the same moment; a case's claims are owed by one fund. Nothing was changed.");
                case JasperFx.DocumentAlreadyExistsException:
                    return Problems.Conflict("already-exists", "A record with this id already exists; nothing was changed.");
                case JasperFx.Events.ExistingStreamIdCollisionException or Marten.Exceptions.ExistingStreamIdCollisionException:
                    return Problems.Conflict("already-exists", "A record with this id already exists.");
                case LedgerDatabaseUnavailableException or Npgsql.NpgsqlException { IsTransient: true } or TimeoutException:
                    return Problems.Create(StatusCodes.Status503ServiceUnavailable, "database-unavailable", "The ledger's database is unavailable.",
                        "Nothing was changed. Try again in a moment.");
            }
        }
        return Problems.Create(StatusCodes.Status500InternalServerError, "internal-error", "Something went wrong on our side.",
            "The request failed unexpectedly; if it changed state, the change was not committed. The error is logged.");
    }

    private static string? FingerprintId(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
            if (e is JasperFx.DocumentAlreadyExistsException { Id: string id }) return id;
        return null;
    }

    /// <summary>
    /// Names the fields a System.Text.Json failure is about, from its message and path:
    /// "$.accounts[2].accountId" becomes "accounts[2].accountId", the way clients name fields.
    /// </summary>
    public static Dictionary<string, string[]> JsonErrors(string message)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        const string missing = "missing required properties including: ";
        var missingAt = message.IndexOf(missing, StringComparison.Ordinal);
        if (missingAt >= 0)
        {
            foreach (var name in message[(missingAt + missing.Length)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                errors[Prefix(message) + name.Trim('\'', '.', ' ')] = ["is required."];
            return errors;
        }

        var field = PathOf(message);
        if (message.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            var name = Quoted(message) ?? "$";
            errors[field is "$" ? name : field.EndsWith(name, StringComparison.Ordinal) ? field : field + "." + name] = ["is not a field of this request."];
        }
        else if (message.Contains("doesn't allow null values", StringComparison.Ordinal) || message.Contains("cannot be null", StringComparison.Ordinal))
            errors[field] = ["is required and must not be null."];
        else if (message.Contains("could not be converted to", StringComparison.Ordinal))
            errors[field] = [$"has the wrong type or format{Expected(message)}."];
        else
            errors[field] = ["is not valid JSON here: " + Cut(message)];
        return errors;
    }

    // Missing properties of a nested object are reported with the object's path, e.g. "Path: $.estimatedLoss".
    private static string Prefix(string message) => PathOf(message) is var path && path != "$" ? path + "." : "";

    private static string PathOf(string message)
    {
        var at = message.IndexOf("Path: $", StringComparison.Ordinal);
        if (at < 0) return "$";
        var rest = message[(at + "Path: $".Length)..];
        var end = rest.IndexOf(' ', StringComparison.Ordinal);
        var path = (end >= 0 ? rest[..end] : rest).TrimStart('.');
        return path.Length == 0 ? "$" : path;
    }

    private static string? Quoted(string message)
    {
        var start = message.IndexOf('\'', StringComparison.Ordinal);
        var end = start >= 0 ? message.IndexOf('\'', start + 1) : -1;
        return start >= 0 && end > start ? message[(start + 1)..end] : null;
    }

    private static string Expected(string message) =>
        message.Contains("NodaTime.LocalDate", StringComparison.Ordinal) ? " (expected an ISO date such as 2011-03-15)"
        : message.Contains("NodaTime.Instant", StringComparison.Ordinal) ? " (expected an ISO instant such as 2011-04-11T08:00:00Z)"
        : message.Contains("System.Decimal", StringComparison.Ordinal) ? " (expected a JSON number such as 1400.00)"
        : message.Contains("System.Int32", StringComparison.Ordinal) ? " (expected a whole number)"
        : message.Contains("System.Guid", StringComparison.Ordinal) ? " (expected a UUID)"
        : message.Contains("System.String", StringComparison.Ordinal) ? " (expected a string)"
        : "";

    private static string Cut(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
