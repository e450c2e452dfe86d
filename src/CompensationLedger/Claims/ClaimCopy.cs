using System.Runtime.CompilerServices;
using CompensationLedger.Infrastructure;
using CompensationLedger.Reports;
using JasperFx.Events.Projections;
using JasperFx.Events.Subscriptions;
using Marten;
using NodaTime;
using Npgsql;
using NpgsqlTypes;

namespace CompensationLedger.Claims;

/// <summary>A claim decided for filing, with what is kept beside its event.</summary>
public sealed record ClaimToFile(ClaimFiled Filed, FileClaim Command, string AccessCode);

/// <summary>
/// Files a batch of claims with PostgreSQL COPY instead of a statement per row (issue #7, scenario 3): the same rows
/// <see cref="FileClaimEndpoint.Record"/> and Marten's inline projections write (the stream and its event in Marten's tables,
/// the <see cref="Claim"/> snapshot, the paid-vs-lost rows of <see cref="ClaimTotalsProjection"/>, the fingerprints, the buyer,
/// the access hash), all
/// in one transaction of its own: the batch is written whole or not at all. Marten's <c>BulkInsertEventsAsync</c> is not
/// used because it commits on its own and runs no inline projection.
/// <para>
/// The event rows are written as Marten's append function writes them (sequence number from Marten's sequence, version 1,
/// type alias, .NET type, tenant, the transaction's time), so the async daemon and a projection rebuild read them like any
/// other. The read models are the projections' own functions (<see cref="Claim.Create"/>, <see cref="ClaimTotalsLine.Start"/>),
/// and the paid-vs-lost change rows are computed by the projection's own figure expressions over the rows just copied.
/// </para>
/// <para>
/// COPY is used only when the store is configured as this writer expects (<see cref="For"/> says why not otherwise, and the
/// import then files row by row through Marten): an inline projection reacting to <see cref="ClaimFiled"/> other than those
/// two (its rows would be missing), conjoined tenancy, event metadata columns, archived-stream partitioning, DCB tags, or
/// append observers/notifications.
/// </para>
/// </summary>
public sealed class ClaimCopy
{
    /// <summary>The inline projected documents this writer writes for a <see cref="ClaimFiled"/> (besides <see cref="ClaimTotalsProjection"/>'s rows).</summary>
    public static readonly IReadOnlySet<Type> ProjectedDocuments = new HashSet<Type> { typeof(Claim) };

    private static readonly ConditionalWeakTable<IDocumentStore, Setup> Setups = new();

    private readonly StoreOptions options;
    private readonly IDocumentStore store;
    private readonly string events, streams, sequence, streamType, eventType, eventDotNetType, tenant;

    private ClaimCopy(IDocumentStore store)
    {
        this.store = store;
        options = (StoreOptions)store.Options;
        var schema = options.Events.DatabaseSchemaName;
        events = $"{schema}.mt_events";
        streams = $"{schema}.mt_streams";
        sequence = $"{schema}.mt_events_sequence";
        streamType = ((Marten.Events.EventGraph)options.Events).AggregateAliasFor(typeof(Claim));
        var mapping = ((Marten.Events.EventGraph)options.Events).EventMappingFor(typeof(ClaimFiled));
        eventType = mapping.EventTypeName;
        eventDotNetType = mapping.DotNetTypeName;
        tenant = JasperFx.StorageConstants.DefaultTenantId;
    }

    private sealed record Setup(ClaimCopy? Writer, string? WhyNot);

    /// <summary>The writer for this store, or null with the reason COPY cannot file claims exactly as Marten would.</summary>
    public static ClaimCopy? For(IDocumentStore store, out string? whyNot)
    {
        var setup = Setups.GetValue(store, s =>
        {
            var reason = WhyNot((StoreOptions)s.Options);
            return new Setup(reason is null ? new ClaimCopy(s) : null, reason);
        });
        whyNot = setup.WhyNot;
        return setup.Writer;
    }

    private static string? WhyNot(StoreOptions options)
    {
        var eventGraph = (Marten.Events.EventGraph)options.Events;
        if (eventGraph.TenancyStyle != JasperFx.MultiTenancy.TenancyStyle.Single) return "events are stored per tenant (conjoined tenancy)";
        var metadata = eventGraph.MetadataConfig;
        if (metadata.HeadersEnabled || metadata.CausationIdEnabled || metadata.CorrelationIdEnabled || metadata.UserNameEnabled)
            return "event metadata columns (headers, causation, correlation, user name) are enabled";
        if (eventGraph.UseArchivedStreamPartitioning) return "the event tables are partitioned by archive state";
        if (eventGraph.TagTypes.Count > 0 || eventGraph.TagRules.Count > 0) return "events are tagged (DCB)";
        if (eventGraph.AppendObserver is not null || eventGraph.UseListenNotifyForEventAppends) return "appends are observed or notified";
        if (eventGraph.StreamIdentity != JasperFx.Events.StreamIdentity.AsGuid) return "streams are not identified by GUID";

        foreach (var source in options.Projections.All)
        {
            if (source is not ISubscriptionSource { Lifecycle: ProjectionLifecycle.Inline } subscription) continue;
            var published = (source as IPublishesTypes)?.PublishedTypes().ToArray() ?? [];
            if (published.Length == 1 && ProjectedDocuments.Contains(published[0])) continue;
            if (source is ClaimTotalsProjection) continue;
            var reacts = source is not EventFilterable filterable || filterable.IncludedEventTypes.Count == 0
                || filterable.IncludedEventTypes.Any(t => t.IsAssignableFrom(typeof(ClaimFiled)));
            if (reacts)
                return $"the inline projection {subscription.Name} may react to {nameof(ClaimFiled)} and the COPY path does not write its rows "
                    + $"(teach {nameof(ClaimCopy)} to write them, or declare the events it handles)";
        }
        return null;
    }

    /// <summary>True when the batch could not be written because another transaction took one of its fingerprints (or deadlocked on one): nothing was written.</summary>
    public static bool IsConflict(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
            if (e is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DeadlockDetected }) return true;
        return false;
    }

    /// <summary>Writes the batch in one transaction: all of it, or (on any failure, the exception rethrown) nothing.</summary>
    public async Task WriteAsync(IReadOnlyList<ClaimToFile> claims, CancellationToken ct)
    {
        if (claims.Count == 0) return;
        // Every JSON value is written as UTF-8 bytes straight from the serializer's options, into one buffer reused from row to
        // row (ToJson made a UTF-16 string of each, for Npgsql to encode again).
        var serializer = new Utf8Documents(options.Serializer());
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);

        // Sequence numbers from Marten's own sequence, as its append function takes them, and the transaction's time
        // (what now() gives the function's inserts and the documents' mt_last_modified default).
        var sequenceNumbers = new long[claims.Count];
        var eventIds = claims.Select(_ => Guid.CreateVersion7()).ToArray();
        Instant now = default;
        await using (var numbers = new NpgsqlCommand($"select nextval('{sequence}'), now() from generate_series(1, @count)", connection, tx))
        {
            numbers.Parameters.AddWithValue("count", claims.Count);
            await using var reader = await numbers.ExecuteReaderAsync(ct);
            for (var i = 0; await reader.ReadAsync(ct); i++)
            {
                sequenceNumbers[i] = reader.GetInt64(0);
                now = reader.GetFieldValue<Instant>(1);
            }
        }

        // Fingerprints first (their key is the duplicate guard: a concurrent filing fails the batch before the rest is sent),
        // in key order, so two imports that overlap take their locks in the same order instead of deadlocking.
        var fingerprints = claims.SelectMany(c => FileClaimEndpoint.Fingerprints(c.Command, c.Filed.ClaimId, c.Filed.Reference))
            .OrderBy(f => f.Id, StringComparer.Ordinal).ToArray();
        await Documents(connection, fingerprints, f => f.Id, NpgsqlDbType.Varchar, serializer, version: null, ct);

        await Copy(connection, $"copy {streams} (id, type, version, timestamp, tenant_id) from stdin (format binary)", claims, async (w, c, _) =>
        {
            await w.WriteAsync(c.Filed.ClaimId, NpgsqlDbType.Uuid, ct);
            await w.WriteAsync(streamType, NpgsqlDbType.Varchar, ct);
            await w.WriteAsync(1L, NpgsqlDbType.Bigint, ct);
            await w.WriteAsync(now, NpgsqlDbType.TimestampTz, ct);
            await w.WriteAsync(tenant, NpgsqlDbType.Varchar, ct);
        }, ct);
        await Copy(connection, $"copy {events} (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived) from stdin (format binary)", claims, async (w, c, i) =>
        {
            await w.WriteAsync(sequenceNumbers[i], NpgsqlDbType.Bigint, ct);
            await w.WriteAsync(eventIds[i], NpgsqlDbType.Uuid, ct);
            await w.WriteAsync(c.Filed.ClaimId, NpgsqlDbType.Uuid, ct);
            await w.WriteAsync(1L, NpgsqlDbType.Bigint, ct);
            await w.WriteAsync(serializer.Write(c.Filed), NpgsqlDbType.Jsonb, ct);
            await w.WriteAsync(eventType, NpgsqlDbType.Varchar, ct);
            await w.WriteAsync(now, NpgsqlDbType.TimestampTz, ct);
            await w.WriteAsync(tenant, NpgsqlDbType.Varchar, ct);
            await w.WriteAsync(eventDotNetType, NpgsqlDbType.Varchar, ct);
            await w.WriteAsync(false, NpgsqlDbType.Boolean, ct);
        }, ct);

        // The inline projections' documents, at the revision Marten gives them after the stream's first event.
        await Documents(connection, claims.Select(c => Claim.Create(c.Filed)).ToArray(), d => d.Id, NpgsqlDbType.Uuid, serializer, version: 1L, ct);
        await ClaimTotals(connection, tx, claims, eventIds, ct);

        await Documents(connection, claims.Select(c => FileClaimEndpoint.Buyer(c.Filed.ClaimId, c.Command.Buyer)).ToArray(), d => d.Id, NpgsqlDbType.Uuid, serializer, version: null, ct);
        await Documents(connection, claims.Select(c => FileClaimEndpoint.Access(c.Filed, c.AccessCode)).ToArray(),
            d => d.Id, NpgsqlDbType.Uuid, serializer, version: null, ct);

        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// <see cref="ClaimTotalsProjection"/>'s rows for the filings, as its <c>Project(IEvent&lt;ClaimFiled&gt;)</c> writes them: the claim's
    /// row (from <see cref="ClaimTotalsLine.Start"/>, copied), then its change row keyed by the event's id, computed by the
    /// projection's own figure expressions over the copied rows in one statement, so the two writers cannot disagree.
    /// </summary>
    private async Task ClaimTotals(NpgsqlConnection connection, NpgsqlTransaction tx, IReadOnlyList<ClaimToFile> claims, Guid[] eventIds, CancellationToken ct)
    {
        var schema = options.DatabaseSchemaName;
        var rows = claims.Select(c => ClaimTotalsProjection.FiledRow(c.Filed)).ToArray();
        await Copy(connection, $"copy {schema}.{ClaimTotalsProjection.ClaimsTable} ({string.Join(", ", rows[0].Select(c => c.Column))}) from stdin (format binary)",
            rows, async (w, row, _) =>
            {
                foreach (var (_, value) in row)
                    if (value is null) await w.WriteNullAsync(ct);
                    else await w.WriteAsync(value, ct);
            }, ct);

        // Each claim's row found by one probe of the key: as a plain join, PostgreSQL hashed the whole totals table for every batch
        // while its costs priced the table as small (the first ~70,000 rows), so an import into a table a few thousand filings had
        // already analysed read it all 200 times (see ClaimFingerprints.StoredAmongSql). A lateral subquery with a limit stays a probe.
        await using var changes = new NpgsqlCommand(
            $"""
             insert into {schema}.{ClaimTotalsProjection.ChangesTable} ({ClaimTotalsProjection.FiledChangeColumns})
             select {ClaimTotalsProjection.FiledChangeValues("f.event_id")}
             from unnest(@claims, @events) as f(claim_id, event_id)
             cross join lateral (select * from {schema}.{ClaimTotalsProjection.ClaimsTable} where claim_id = f.claim_id limit 1) as n
             """, connection, tx);
        changes.Parameters.AddWithValue("claims", claims.Select(c => c.Filed.ClaimId).ToArray());
        changes.Parameters.AddWithValue("events", eventIds);
        await changes.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Documents as Marten stores them: the serializer's JSON, the .NET type name, and either a numeric revision (documents with
    /// numeric revisions, i.e. the projected aggregates) or a new version GUID (the column's default does that).
    /// </summary>
    private async Task Documents<T, TId>(NpgsqlConnection connection, IReadOnlyList<T> documents, Func<T, TId> id, NpgsqlDbType idType,
        Utf8Documents serializer, long? version, CancellationToken ct) where T : notnull
    {
        var table = store.Options.FindOrResolveDocumentType(typeof(T)).TableName.QualifiedName;
        var dotNetType = typeof(T).FullName!;
        var columns = version is null ? "id, data, mt_dotnet_type" : "id, data, mt_dotnet_type, mt_version";
        await Copy(connection, $"copy {table} ({columns}) from stdin (format binary)", documents, async (w, d, _) =>
        {
            await w.WriteAsync(id(d), idType, ct);
            await w.WriteAsync(serializer.Write(d), NpgsqlDbType.Jsonb, ct);
            await w.WriteAsync(dotNetType, NpgsqlDbType.Varchar, ct);
            if (version is { } revision) await w.WriteAsync(revision, NpgsqlDbType.Bigint, ct);
        }, ct);
    }

    private static async Task Copy<T>(NpgsqlConnection connection, string copy, IReadOnlyList<T> rows, Func<NpgsqlBinaryImporter, T, int, Task> row, CancellationToken ct)
    {
        if (rows.Count == 0) return;
        await using var writer = await connection.BeginBinaryImportAsync(copy, ct);
        for (var i = 0; i < rows.Count; i++)
        {
            await writer.StartRowAsync(ct);
            await row(writer, rows[i], i);
        }
        await writer.CompleteAsync(ct);
    }
}
