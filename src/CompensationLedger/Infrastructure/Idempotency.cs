using System.Security.Cryptography;
using System.Text;
using Marten;
using Microsoft.Extensions.Primitives;
using NodaTime;
using Npgsql;
using Weasel.Postgresql.Tables;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// One mechanism for every state-changing POST: an <c>Idempotency-Key</c> header.
/// The first request with a key inserts a row for (caller, key) inside a transaction that stays
/// open while the request runs; a concurrent duplicate blocks on that row's unique index until the
/// first one commits, then replays its stored response. The same key with another body (or path)
/// is 422. Server errors (5xx) roll the row back so the client may retry with the same key.
/// Backed by PostgreSQL, so it holds across instances and restarts.
/// Known gap: the command's own transaction commits before the key's row does; if the process dies
/// between the two, the key is released and a retry runs the command again (commands that are
/// refused when repeated, such as a second approval or flagging, stay safe; a new filing of the same
/// payment is refused as a duplicate).
/// </summary>
public sealed class IdempotencyMiddleware(RequestDelegate next, ILogger<IdempotencyMiddleware> logger)
{
    public const string Header = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    public const int MaxKeyLength = 200;
    public const string TableName = "idempotency_keys";

    public async Task InvokeAsync(HttpContext context, IDocumentStore store, IClock clock)
    {
        if (!HttpMethods.IsPost(context.Request.Method) || !context.Request.Headers.TryGetValue(Header, out var values))
        {
            await next(context);
            return;
        }

        var key = values.ToString().Trim();
        if (key.Length is 0 or > MaxKeyLength || values.Count > 1)
        {
            await Write(context, Problems.Invalid(Header, $"must be one value of 1 to {MaxKeyLength} characters."));
            return;
        }

        var scope = context.User.Identity?.IsAuthenticated == true ? "staff:" + context.User.StaffName() : "public";
        var fingerprint = await Fingerprint(context.Request);
        var schema = store.Options.DatabaseSchemaName;

        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(context.RequestAborted);
        await using var transaction = await connection.BeginTransactionAsync(context.RequestAborted);

        await using (var claim = new NpgsqlCommand(
                         $"insert into {schema}.{TableName} (scope, key, request_hash, method, path, created_at) values (@scope, @key, @hash, @method, @path, @now) on conflict do nothing",
                         connection, transaction))
        {
            claim.Parameters.AddWithValue("scope", scope);
            claim.Parameters.AddWithValue("key", key);
            claim.Parameters.AddWithValue("hash", fingerprint);
            claim.Parameters.AddWithValue("method", context.Request.Method);
            claim.Parameters.AddWithValue("path", context.Request.Path.ToString());
            claim.Parameters.AddWithValue("now", clock.GetCurrentInstant().ToDateTimeOffset());
            if (await claim.ExecuteNonQueryAsync(context.RequestAborted) == 0)
            {
                await transaction.RollbackAsync(context.RequestAborted);
                await Replay(context, connection, schema, scope, key, fingerprint);
                return;
            }
        }

        var originalBody = context.Response.Body;
        await using var captured = new MemoryStream();
        context.Response.Body = captured;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = originalBody;
        }

        if (context.Response.StatusCode < 500)
        {
            // The response's row and the commit in one round trip (issue #7): a batch of the update and COMMIT. If the update
            // fails, PostgreSQL skips the rest of the batch and the transaction is rolled back when it is disposed, as before.
            await using var batch = new NpgsqlBatch(connection, transaction);
            var record = new NpgsqlBatchCommand(
                $"update {schema}.{TableName} set status = @status, content_type = @type, location = @location, body = @body where scope = @scope and key = @key");
            batch.BatchCommands.Add(record);
            batch.BatchCommands.Add(new NpgsqlBatchCommand("commit"));
            record.Parameters.AddWithValue("status", context.Response.StatusCode);
            // A response marked no-store (a filing, with the buyer's one-time access code) is not kept: a replay gets the status and Location only.
            var secret = context.Response.Headers.CacheControl.ToString().Contains("no-store", StringComparison.OrdinalIgnoreCase);
            record.Parameters.AddWithValue("type", secret ? DBNull.Value : (object?)context.Response.ContentType ?? DBNull.Value);
            var location = context.Response.Headers.Location.ToString();
            record.Parameters.AddWithValue("location", location.Length > 0 ? location : DBNull.Value);
            record.Parameters.AddWithValue("body", secret ? Array.Empty<byte>() : captured.ToArray());
            record.Parameters.AddWithValue("scope", scope);
            record.Parameters.AddWithValue("key", key);
            await batch.ExecuteNonQueryAsync(CancellationToken.None);
        }
        else
        {
            await transaction.RollbackAsync(CancellationToken.None);
            logger.LogInformation("Idempotency key {Key} released after a {Status} so the request can be retried", key, context.Response.StatusCode);
        }

        captured.Position = 0;
        await captured.CopyToAsync(originalBody, context.RequestAborted);
    }

    private static async Task Replay(HttpContext context, NpgsqlConnection connection, string schema, string scope, string key, string fingerprint)
    {
        await using var read = new NpgsqlCommand(
            $"select request_hash, status, content_type, location, body from {schema}.{TableName} where scope = @scope and key = @key", connection);
        read.Parameters.AddWithValue("scope", scope);
        read.Parameters.AddWithValue("key", key);
        await using var reader = await read.ExecuteReaderAsync(context.RequestAborted);
        if (!await reader.ReadAsync(context.RequestAborted) || reader.IsDBNull(1))
        {
            // Only possible if the first request is still running on another connection that has not committed yet.
            await Write(context, Problems.Conflict("idempotency-key-in-use", "A request with this Idempotency-Key is still being processed; retry shortly."));
            return;
        }
        if (reader.GetString(0) != fingerprint)
        {
            await Write(context, Problems.Create(StatusCodes.Status422UnprocessableEntity, "idempotency-key-reused",
                "The Idempotency-Key was already used for a different request.",
                "This key was first used with another body or path. Nothing was changed; use a new key for a new request."));
            return;
        }

        context.Response.StatusCode = reader.GetInt32(1);
        if (!reader.IsDBNull(2)) context.Response.ContentType = reader.GetString(2);
        if (!reader.IsDBNull(3)) context.Response.Headers.Location = reader.GetString(3);
        context.Response.Headers[ReplayedHeader] = new StringValues("true");
        var body = reader.GetFieldValue<byte[]>(4);
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    private static async Task<string> Fingerprint(HttpRequest request)
    {
        request.EnableBuffering();
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{request.Method} {request.Path}{request.QueryString}\n"));
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(buffer, request.HttpContext.RequestAborted)) > 0) hash.AppendData(buffer, 0, read);
        request.Body.Position = 0;
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static async Task Write(HttpContext context, Microsoft.AspNetCore.Mvc.ProblemDetails problem)
    {
        context.Response.StatusCode = problem.Status ?? 400;
        await context.RequestServices.GetRequiredService<IProblemDetailsService>()
            .WriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem });
    }

    /// <summary>The table, declared to Marten so that db-patch, db-assert and the migrations include it.</summary>
    public static Table Table(string schema)
    {
        var table = new Table(new Weasel.Postgresql.PostgresqlObjectName(schema, TableName, Weasel.Postgresql.SchemaUtils.IdentifierUsage.General));
        table.AddColumn<string>("scope").AsPrimaryKey();
        table.AddColumn<string>("key").AsPrimaryKey();
        table.AddColumn<string>("request_hash").NotNull();
        table.AddColumn<string>("method").NotNull();
        table.AddColumn<string>("path").NotNull();
        table.AddColumn("created_at", "timestamp with time zone").NotNull();
        table.AddColumn<int>("status");
        table.AddColumn<string>("content_type");
        table.AddColumn<string>("location");
        table.AddColumn("body", "bytea");
        return table;
    }
}
