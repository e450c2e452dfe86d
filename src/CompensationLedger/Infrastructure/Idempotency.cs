using System.Security.Cryptography;
using System.Text;
using Marten;
using Microsoft.Extensions.Primitives;
using NodaTime;
using Npgsql;
using Weasel.Postgresql.Tables;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// One mechanism for every state-changing POST: an <c>Idempotency-Key</c> header. The same key with another body (or path)
/// is 422; server errors (5xx) record nothing, so the client may retry with the same key. Backed by PostgreSQL, so it holds
/// across instances and restarts. Two ways to keep a key:
/// <list type="bullet">
/// <item>By default the first request with a key inserts a row for (caller, key) inside a transaction that stays open while the
/// request runs; a concurrent duplicate blocks on that row's unique index until the first one commits, then replays its stored
/// response. Known gap: the command's own transaction commits before the key's row does; if the process dies between the two,
/// the key is released and a retry runs the command again (commands that are refused when repeated, such as a second approval
/// or flagging, stay safe).</item>
/// <item>An endpoint marked <see cref="IdempotentInTransactionAttribute"/> writes the key's row in its own unit of work
/// (<see cref="Idempotency.RecordInTransaction"/>): the row commits in the same transaction as the command's changes, or not at
/// all. No gap, and one commit per request instead of two (issue #7). A concurrent duplicate is not blocked up front: it runs,
/// and its commit fails on the row's key (or on the command's own unique keys), or it is refused; either way it answers with the
/// first request's stored response.</item>
/// </list>
/// </summary>
public sealed class IdempotencyMiddleware(RequestDelegate next, ILogger<IdempotencyMiddleware> logger)
{
    public const string Header = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    public const int MaxKeyLength = 200;
    public const string TableName = "idempotency_keys";

    /// <summary>A key's request columns: what the held row is inserted with (its answer is set when the request ends).</summary>
    private const string RequestColumns = "scope, key, request_hash, method, path, created_at";

    /// <summary>A key's columns with its answer, as the inserts of a finished request give them.</summary>
    internal const string Columns = RequestColumns + ", status, content_type, location, body";

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
        if (context.GetEndpoint()?.Metadata.GetMetadata<IdempotentInTransactionAttribute>() is not null)
        {
            await InTransaction(context, store, new PendingIdempotencyKey(schema, scope, key, fingerprint, context.Request.Method,
                context.Request.Path.ToString(), clock.GetCurrentInstant()));
            return;
        }

        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(context.RequestAborted);
        await using var transaction = await connection.BeginTransactionAsync(context.RequestAborted);

        await using (var claim = new NpgsqlCommand(
                         $"insert into {schema}.{TableName} ({RequestColumns}) values (@scope, @key, @hash, @method, @path, @now) on conflict do nothing",
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
                await Replay(context, await Find(connection, schema, scope, key, context.RequestAborted), fingerprint);
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
            var (contentType, location, body) = Kept(context.Response, captured);
            record.Parameters.AddWithValue("type", (object?)contentType ?? DBNull.Value);
            record.Parameters.AddWithValue("location", (object?)location ?? DBNull.Value);
            record.Parameters.AddWithValue("body", body);
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

    /// <summary>
    /// The path of an endpoint marked <see cref="IdempotentInTransactionAttribute"/>: a stored answer is replayed; otherwise the
    /// request runs with the key pending (<see cref="PendingIdempotencyKey"/>). If the endpoint recorded the key in its unit of
    /// work and saved, the row is committed with the command. An answer it did not record (a refusal, a problem with the request)
    /// is stored afterwards. If a concurrent request with the key committed first, its answer is given instead of this one's.
    /// (Skipping the first lookup and letting a repeat fail on the key's row was measured: no difference in filings/s.)
    /// </summary>
    private async Task InTransaction(HttpContext context, IDocumentStore store, PendingIdempotencyKey pending)
    {
        var stored = await Find(store, pending, context.RequestAborted);
        if (stored is not null)
        {
            await Replay(context, stored, pending.RequestHash);
            return;
        }

        context.Features.Set(pending);
        var originalBody = context.Response.Body;
        await using var captured = new MemoryStream();
        context.Response.Body = captured;
        try
        {
            await next(context);
        }
        catch (Exception) when (!context.Response.HasStarted)
        {
            // A duplicate's commit failed on the key's row (or first on one of the command's own unique keys): the first
            // request's answer, not this one's error. Any other failure committed nothing (the row was in its transaction).
            context.Response.Body = originalBody;
            if (await Find(store, pending, CancellationToken.None) is not { } winner) throw;
            context.Response.Clear();
            await Replay(context, winner, pending.RequestHash);
            return;
        }
        finally
        {
            context.Response.Body = originalBody;
        }

        var status = context.Response.StatusCode;
        if (status >= 500)
        {
            logger.LogInformation("Idempotency key {Key} not recorded after a {Status} so the request can be retried", pending.Key, status);
        }
        else if (!pending.Recorded)
        {
            // Nothing of the command was saved with the key (a refusal, a problem with the request): keep this answer, unless
            // a request with the same key committed meanwhile; then that one's answer is the key's.
            var (contentType, location, body) = Kept(context.Response, captured);
            if (!await Insert(store, pending, status, contentType, location, body))
            {
                context.Response.Clear();
                await Replay(context, await Find(store, pending, CancellationToken.None), pending.RequestHash);
                return;
            }
        }

        captured.Position = 0;
        await captured.CopyToAsync(originalBody, context.RequestAborted);
    }

    /// <summary>
    /// What is kept of an answer for replays: its content type, Location and body. A response marked no-store (a filing, with the
    /// buyer's one-time access code) keeps its Location only: a replay gets the status and Location.
    /// </summary>
    private static (string? ContentType, string? Location, byte[] Body) Kept(HttpResponse response, MemoryStream captured)
    {
        var secret = response.Headers.CacheControl.ToString().Contains("no-store", StringComparison.OrdinalIgnoreCase);
        var location = response.Headers.Location.ToString();
        return (secret ? null : response.ContentType, location.Length > 0 ? location : null, secret ? [] : captured.ToArray());
    }

    /// <summary>The stored answer of a key, if any.</summary>
    private sealed record StoredResponse(string RequestHash, int? Status, string? ContentType, string? Location, byte[] Body);

    private static async Task<StoredResponse?> Find(IDocumentStore store, PendingIdempotencyKey pending, CancellationToken ct)
    {
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        return await Find(connection, pending.Schema, pending.Scope, pending.Key, ct);
    }

    private static async Task<StoredResponse?> Find(NpgsqlConnection connection, string schema, string scope, string key, CancellationToken ct)
    {
        await using var read = new NpgsqlCommand(
            $"select request_hash, status, content_type, location, body from {schema}.{TableName} where scope = @scope and key = @key", connection);
        read.Parameters.AddWithValue("scope", scope);
        read.Parameters.AddWithValue("key", key);
        await using var reader = await read.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return null;
        return new StoredResponse(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetInt32(1), reader.IsDBNull(2) ? null : reader.GetString(2),
            reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? [] : reader.GetFieldValue<byte[]>(4));
    }

    /// <summary>Stores a key with its answer unless the key is there already; false if it was.</summary>
    private static async Task<bool> Insert(IDocumentStore store, PendingIdempotencyKey pending, int status, string? contentType, string? location, byte[] body)
    {
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(CancellationToken.None);
        await using var insert = new NpgsqlCommand(
            $"insert into {pending.Schema}.{TableName} ({Columns}) " +
            "values (@scope, @key, @hash, @method, @path, @now, @status, @type, @location, @body) on conflict do nothing", connection);
        insert.Parameters.AddWithValue("scope", pending.Scope);
        insert.Parameters.AddWithValue("key", pending.Key);
        insert.Parameters.AddWithValue("hash", pending.RequestHash);
        insert.Parameters.AddWithValue("method", pending.Method);
        insert.Parameters.AddWithValue("path", pending.Path);
        insert.Parameters.AddWithValue("now", pending.At.ToDateTimeOffset());
        insert.Parameters.AddWithValue("status", status);
        insert.Parameters.AddWithValue("type", (object?)contentType ?? DBNull.Value);
        insert.Parameters.AddWithValue("location", (object?)location ?? DBNull.Value);
        insert.Parameters.AddWithValue("body", body);
        return await insert.ExecuteNonQueryAsync(CancellationToken.None) == 1;
    }

    private static async Task Replay(HttpContext context, StoredResponse? stored, string fingerprint)
    {
        if (stored?.Status is not { } status)
        {
            // Only possible if the first request is still running on another connection that has not committed yet.
            await Write(context, Problems.Conflict("idempotency-key-in-use", "A request with this Idempotency-Key is still being processed; retry shortly."));
            return;
        }
        if (stored.RequestHash != fingerprint)
        {
            await Write(context, Problems.Create(StatusCodes.Status422UnprocessableEntity, "idempotency-key-reused",
                "The Idempotency-Key was already used for a different request.",
                "This key was first used with another body or path. Nothing was changed; use a new key for a new request."));
            return;
        }

        context.Response.StatusCode = status;
        if (stored.ContentType is not null) context.Response.ContentType = stored.ContentType;
        if (stored.Location is not null) context.Response.Headers.Location = stored.Location;
        context.Response.Headers[ReplayedHeader] = new StringValues("true");
        await context.Response.Body.WriteAsync(stored.Body, context.RequestAborted);
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

/// <summary>
/// Marks an endpoint that writes its <c>Idempotency-Key</c> row in its own unit of work with
/// <see cref="Idempotency.RecordInTransaction"/> when it saves its changes (see <see cref="IdempotencyMiddleware"/>). Only for
/// endpoints whose successful answer is not kept (no-store): a replay gives its status and Location, as for a filing.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class IdempotentInTransactionAttribute : Attribute;

/// <summary>A request's <c>Idempotency-Key</c> while the request runs, on an endpoint marked <see cref="IdempotentInTransactionAttribute"/>.</summary>
public sealed class PendingIdempotencyKey(string schema, string scope, string key, string requestHash, string method, string path, Instant at)
{
    public string Schema { get; } = schema;
    public string Scope { get; } = scope;
    public string Key { get; } = key;
    public string RequestHash { get; } = requestHash;
    public string Method { get; } = method;
    public string Path { get; } = path;
    public Instant At { get; } = at;

    /// <summary>Whether the key's row was queued in the endpoint's unit of work (and so commits with it).</summary>
    public bool Recorded { get; private set; }

    internal void Queue(IDocumentSession session, int status, string location)
    {
        if (Recorded) throw new InvalidOperationException("The idempotency key was recorded already in this request.");
        // A plain insert: a request with the same key that committed first makes this whole unit of work fail on the row's key.
        session.QueueSqlCommand(
            $"insert into {Schema}.{IdempotencyMiddleware.TableName} ({IdempotencyMiddleware.Columns}) " +
            "values (?, ?, ?, ?, ?, ?, ?, null, ?, ''::bytea)",
            Scope, Key, RequestHash, Method, Path, At.ToDateTimeOffset(), status, location);
        Recorded = true;
    }
}

public static class Idempotency
{
    /// <summary>
    /// Queues the request's <c>Idempotency-Key</c> row, with the answer's status and Location, in <paramref name="session"/>'s
    /// unit of work: call it on the success path, after the changes it commits with. Does nothing without a key.
    /// </summary>
    public static void RecordInTransaction(HttpContext context, IDocumentSession session, int status, string location) =>
        context.Features.Get<PendingIdempotencyKey>()?.Queue(session, status, location);
}
