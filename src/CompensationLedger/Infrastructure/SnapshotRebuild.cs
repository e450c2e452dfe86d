using System.Diagnostics;
using System.Text.RegularExpressions;
using JasperFx.Events;
using JasperFx.Events.Aggregation;
using JasperFx.Events.Projections;
using Marten;
using Npgsql;
using NpgsqlTypes;
using Weasel.Postgresql.Tables;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// Rebuilds the documents of one of Marten's inline snapshots (<c>Snapshot&lt;T&gt;</c>: <see cref="Claims.Claim"/>,
/// <see cref="Funds.Fund"/>, <see cref="Cases.FraudCase"/>, <see cref="Funds.FundTerms"/>; table <c>mt_doc_{t}</c>) from the events
/// <b>while the service runs</b> (issue #5), and fast (issue #7), the way <see cref="Reports.ClaimTotalsRebuild"/> rebuilds the
/// paid-vs-lost tables: a new table is filled beside the live one and swapped in. Marten's daemon instead deletes the documents and
/// replays the events into the live table, so a decision on a claim (or a payment from a fund) not yet replayed could be refused, or
/// overwritten by an older fold.
/// <list type="number">
/// <item>An empty copy of Marten's own table for <typeparamref name="T"/> (its Weasel definition, the DDL Marten runs) is created in a schema
/// of its own (<c>{schema}_{t}_rebuild</c>: <c>ledger_claim_rebuild</c>, <c>ledger_fund_rebuild</c>, ...), with its indexes: each document's index entries are computed as it is written, from the JSON in hand.
/// Built after the fill, each of the claim table's three expression indexes read every document back, decompressed it and parsed its JSON
/// again (a fifth of PostgreSQL's CPU in the Claim rebuild).</item>
/// <item>The snapshot's events are read once in one snapshot, stream by stream (<c>order by stream_id, version</c>, Marten's unique index),
/// each stream folded by Marten's own aggregator for <typeparamref name="T"/> (or by the snapshot's own <see cref="IFoldsMany{TSelf}"/>, the
/// fund's) and its document written with binary COPY as the stream
/// ends, with the columns Marten writes (the store serializer's JSON, the stream version as <c>mt_version</c>, the .NET type). Memory
/// holds one document and at most <see cref="FoldEvery"/> events at a time (a fund's stream has every entitlement and payout).</item>
/// <item>Events committed meanwhile: each catch-up pass reads, in one snapshot, the streams with events after the last sequence number
/// seen or among the numbers not seen below it (a transaction that took them earlier and had not committed), and folds each of those
/// streams again, whole, from the log.</item>
/// <item>The swap, in one transaction: the live table is locked against writes (<c>EXCLUSIVE</c>: reads go on), the streams changed since
/// the last pass are folded again, the live table is dropped and the new one moved into its place. A transaction about to write a document
/// waits for the lock, then writes to the new table (PostgreSQL resolves the name again).</item>
/// </list>
/// A failure or cancel before the swap drops the new table and leaves the live one as it was; one rebuild runs at a time.
/// </summary>
public sealed class SnapshotRebuild<T> where T : class
{
    /// <summary>The projection's name, as <c>rebuild</c> and <c>projections list</c> show it (Marten names a snapshot after its type).</summary>
    public static readonly string ProjectionName = typeof(T).Name;

    /// <summary>Points a test can act at (append events, hold a transaction open) to race the rebuild deterministically.</summary>
    public enum Phase { TableCreated, FirstPassDone, DocumentsWritten, LiveTableLocked }

    public sealed record Result(long Events, int Documents, int CatchUpPasses, int StreamsFoldedAgain, TimeSpan Elapsed, TimeSpan Locked);

    private const int CatchUpUntilFewerThan = 1_000;
    private const int MaxCatchUpPasses = 10;
    /// <summary>Events folded into the stream's document at a time.</summary>
    internal const int FoldEvery = 5_000;
    private readonly int foldEvery;
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(60);

    private readonly IDocumentStore store;
    private readonly Func<Phase, Task>? atPhase;
    private readonly Action<string> log;
    private readonly Marten.ISerializer serializer;
    private readonly Utf8Documents json;
    private readonly Marten.Events.EventGraph graph;
    private readonly IAggregator<T, IQuerySession> aggregator;
    private readonly Func<T?, IReadOnlyList<object>, long, T?>? foldMany; // the snapshot's own IFoldsMany, where it has one
    private readonly string[] notInSnapshot; // its event types that change nothing it stores: their data is neither read nor parsed
    private readonly Func<T, Guid> idOf;
    private readonly string schema, shadow, events, tableName, dotNetType;
    private readonly string createTable;
    private readonly Dictionary<string, Type> eventTypes;
    private long seenUpTo; // every event at or below it was read, except the sequence numbers in `unseen`
    private long[] unseen = [];
    private long eventCount;
    private int documentCount, foldedAgain;

    private SnapshotRebuild(IDocumentStore store, Action<string>? log, Func<Phase, Task>? atPhase, int foldEvery = FoldEvery)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(foldEvery, 1);
        this.foldEvery = foldEvery;
        this.store = store;
        this.atPhase = atPhase;
        this.log = log ?? (_ => { });
        var options = (StoreOptions)store.Options;
        serializer = options.Serializer();
        json = new Utf8Documents(serializer);
        graph = (Marten.Events.EventGraph)options.Events;
        aggregator = options.Projections.AggregatorFor<T>();
        foldMany = typeof(T).GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IFoldsMany<>))
            ? typeof(T).GetMethod("FoldMany", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)!
                .CreateDelegate<Func<T?, IReadOnlyList<object>, long, T?>>()
            : null;
        notInSnapshot = foldMany is null ? []
            : ((IReadOnlyCollection<Type>)typeof(T).GetProperty("NotInSnapshot", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)!.GetValue(null)!)
                .Select(t => graph.EventMappingFor(t).EventTypeName).ToArray();
        idOf = typeof(T).GetProperty("Id") is { PropertyType: var idType, GetMethod: { } getId } && idType == typeof(Guid)
            ? getId.CreateDelegate<Func<T, Guid>>()
            : throw new InvalidOperationException($"{typeof(T).Name} has no Guid Id: only snapshots of Guid-identified streams are rebuilt this way.");
        events = $"{graph.DatabaseSchemaName}.mt_events";
        dotNetType = typeof(T).FullName!;

        // The events the snapshot applies, as Marten's projection declares them.
        var projection = options.Projections.All.OfType<EventFilterable>()
            .SingleOrDefault(p => p is IPublishesTypes published && published.PublishedTypes().Contains(typeof(T)))
            ?? throw new InvalidOperationException($"No projection publishes {typeof(T).Name} documents: nothing to rebuild.");
        if (projection.IncludedEventTypes.Count == 0) throw new InvalidOperationException($"The {typeof(T).Name} projection declares no event types.");
        eventTypes = projection.IncludedEventTypes.ToDictionary(t => graph.EventMappingFor(t).EventTypeName, t => t);

        // Marten's own table for the document (the schema objects its schema check compares), its DDL pointed at the shadow schema.
        var table = options.Storage.FindFeature(typeof(T)).Objects.OfType<Table>().Single();
        schema = table.Identifier.Schema;
        tableName = table.Identifier.Name;
        shadow = $"{schema}_{typeof(T).Name.ToLowerInvariant()}_rebuild";
        createTable = InShadow(table.ToBasicCreateTableSql(), table.Identifier.QualifiedName);
    }

    /// <summary>Marten's DDL for the live table, naming the table in the shadow schema instead (the functions it calls stay where they are).</summary>
    private string InShadow(string ddl, string qualifiedName)
    {
        var retargeted = Regex.Replace(ddl, $@"(?<![\w.""]){Regex.Escape(qualifiedName)}(?![\w])", $"{shadow}.{tableName}");
        if (retargeted == ddl) throw new InvalidOperationException($"Marten's DDL does not name {qualifiedName} as expected: {ddl}");
        return retargeted;
    }

    /// <summary>Rebuilds the documents of the store's schema; <paramref name="log"/> gets a line per stage.</summary>
    public static Task<Result> RunAsync(IDocumentStore store, Action<string>? log, CancellationToken ct) =>
        new SnapshotRebuild<T>(store, log, null).RunAsync(ct);

    /// <summary>As <see cref="RunAsync(IDocumentStore, Action{string}?, CancellationToken)"/>, calling <paramref name="atPhase"/> at each <see cref="Phase"/> (tests).</summary>
    internal static Task<Result> RunWithPhasesAsync(IDocumentStore store, Func<Phase, Task> atPhase, CancellationToken ct, int foldEvery = FoldEvery) =>
        new SnapshotRebuild<T>(store, null, atPhase, foldEvery).RunAsync(ct);

    private async Task<Result> RunAsync(CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await using var writer = await Open(ct);
        await using var reader = await Open(ct);
        await using var session = store.QuerySession(); // the aggregator's signature wants one; the snapshots' Apply methods read nothing
        // One rebuild at a time: a second would drop the first one's table under it. A session lock, released below (a pooled
        // connection's session outlives its closing), or by PostgreSQL if this process dies.
        var lockName = $"{schema}.{ProjectionName} rebuild";
        await SwapInRebuild.LockAsync(writer, lockName, ProjectionName, ct);

        try
        {
            await Execute(writer, $"drop schema if exists {shadow} cascade; create schema {shadow}; {createTable}", ct);
            await At(Phase.TableCreated);

            await FirstPassAsync(reader, writer, session, ct);
            log($"{ProjectionName}: {eventCount:N0} events folded into {documentCount:N0} documents in {clock.Elapsed.TotalSeconds:0.0} s");
            await At(Phase.FirstPassDone);

            await Execute(writer, $"analyze {shadow}.{tableName}", ct);
            // At least one pass after the first (what committed meanwhile), more while many streams still change.
            var passes = 0;
            int changed;
            do
            {
                changed = await CatchUpAsync(reader, writer, session, ct);
                passes++;
            }
            while (changed >= CatchUpUntilFewerThan && passes < MaxCatchUpPasses);
            await At(Phase.DocumentsWritten);

            var locked = await SwapAsync(writer, session, ct);
            var result = new Result(eventCount, documentCount, passes, foldedAgain, clock.Elapsed, locked);
            log($"{ProjectionName}: rebuilt from {result.Events:N0} events ({result.Documents:N0} documents) in {result.Elapsed.TotalSeconds:0.0} s; "
                + $"{result.CatchUpPasses} catch-up passes folded {result.StreamsFoldedAgain} streams again; writes waited {result.Locked.TotalMilliseconds:0} ms for the swap");
            return result;
        }
        finally
        {
            await SwapInRebuild.EndAsync(store, writer, shadow, lockName);
        }
    }

    private Task<NpgsqlConnection> Open(CancellationToken ct) => SwapInRebuild.OpenAsync(store, ct);

    private async Task At(Phase phase)
    {
        if (atPhase is not null) await atPhase(phase);
    }

    private static Task Execute(NpgsqlConnection connection, string sql, CancellationToken ct, NpgsqlTransaction? tx = null) =>
        SwapInRebuild.ExecuteAsync(connection, sql, ct, tx);

    /// <summary>Where this snapshot stands in the log after <see cref="seenUpTo"/> (<see cref="SwapInRebuild.SnapshotBoundsAsync"/>).</summary>
    private Task<(long Highest, long[] Missing)> SnapshotBounds(NpgsqlConnection reader, NpgsqlTransaction tx, CancellationToken ct) =>
        SwapInRebuild.SnapshotBoundsAsync(reader, tx, events, seenUpTo, unseen, ct);

    /// <summary>Every stream in one snapshot, stream by stream, each document copied as its stream ends.</summary>
    private async Task FirstPassAsync(NpgsqlConnection reader, NpgsqlConnection writer, IQuerySession session, CancellationToken ct)
    {
        await using var tx = await reader.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var (highest, missing) = await SnapshotBounds(reader, tx, ct);
        await using (var copy = await writer.BeginBinaryImportAsync(CopyDocuments(), ct))
        {
            await using var command = StreamEvents(reader, tx, "true");
            await foreach (var (document, version) in Fold(command, session, ct))
            {
                await WriteDocument(copy, document, version, ct);
                documentCount++;
            }
            await copy.CompleteAsync(ct);
        }
        await tx.CommitAsync(ct);
        seenUpTo = highest;
        unseen = missing;
    }

    /// <summary>
    /// One catch-up pass in one snapshot: the streams with events this rebuild has not read yet are folded again, whole, and their
    /// documents replaced. Returns how many.
    /// </summary>
    private async Task<int> CatchUpAsync(NpgsqlConnection reader, NpgsqlConnection writer, IQuerySession session, CancellationToken ct)
    {
        await using var tx = await reader.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var (highest, missing) = await SnapshotBounds(reader, tx, ct);
        var folded = await RefoldChanged(reader, tx, writer, null, session, ct);
        await tx.CommitAsync(ct);
        seenUpTo = highest;
        unseen = missing;
        return folded;
    }

    /// <summary>The streams with events after <see cref="seenUpTo"/> or among <see cref="unseen"/>, folded again as <paramref name="reader"/> sees them now.</summary>
    private async Task<int> RefoldChanged(NpgsqlConnection reader, NpgsqlTransaction? readTx, NpgsqlConnection writer, NpgsqlTransaction? writeTx,
        IQuerySession session, CancellationToken ct)
    {
        var changed = new List<Guid>();
        await using (var streams = new NpgsqlCommand(
            $"select distinct stream_id from {events} where (seq_id > @after or seq_id = any(@late)) and type = any(@types) and not is_archived", reader, readTx))
        {
            streams.Parameters.AddWithValue("after", seenUpTo);
            streams.Parameters.AddWithValue("late", unseen);
            streams.Parameters.AddWithValue("types", eventTypes.Keys.ToArray());
            await using var r = await streams.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct)) changed.Add(r.GetGuid(0));
        }
        if (changed.Count == 0) return 0;

        // Few streams (what committed during the last pass): folded into memory first, as the reader and writer may be one connection.
        var documents = new List<(T Document, long Version)>();
        await using (var command = StreamEvents(reader, readTx, "stream_id = any(@ids)"))
        {
            command.Parameters.AddWithValue("ids", changed.ToArray());
            await foreach (var document in Fold(command, session, ct)) documents.Add(document);
        }
        await using (var delete = new NpgsqlCommand($"delete from {shadow}.{tableName} where id = any(@ids)", writer, writeTx))
        {
            delete.Parameters.AddWithValue("ids", changed.ToArray());
            documentCount -= await delete.ExecuteNonQueryAsync(ct);
        }
        await using (var copy = await writer.BeginBinaryImportAsync(CopyDocuments(), ct))
        {
            foreach (var (document, version) in documents) await WriteDocument(copy, document, version, ct);
            await copy.CompleteAsync(ct);
        }
        documentCount += documents.Count;
        foldedAgain += changed.Count;
        return changed.Count;
    }

    private NpgsqlCommand StreamEvents(NpgsqlConnection connection, NpgsqlTransaction? tx, string where)
    {
        // Stream by stream, in version order: Marten's unique index on (stream_id, version) gives this order without a sort.
        var command = new NpgsqlCommand(
            $"""
             select stream_id, version, seq_id, id, type, case when type = any(@not_in_snapshot) then null else data end, timestamp
             from {events} where {where} and type = any(@types) and not is_archived order by stream_id, version
             """,
            connection, tx);
        command.Parameters.AddWithValue("types", eventTypes.Keys.ToArray());
        command.Parameters.AddWithValue("not_in_snapshot", notInSnapshot);
        return command;
    }

    /// <summary>
    /// The events of <paramref name="command"/> (ordered by stream and version), one folded document per stream, with its stream version.
    /// A long stream is folded <see cref="FoldEvery"/> events at a time into the document so far, as Marten's live aggregation folds
    /// events onto a stored snapshot: by the snapshot's own <see cref="IFoldsMany{TSelf}"/> where it has one (the events' data only),
    /// else by Marten's aggregator (the events wrapped with their metadata).
    /// </summary>
    private async IAsyncEnumerable<(T Document, long Version)> Fold(NpgsqlCommand command, IQuerySession session,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var r = await command.ExecuteReaderAsync(ct);
        var pending = new List<IEvent>();
        var pendingData = new List<object>();
        T? document = null;
        long version = 0;
        var streamId = Guid.Empty;
        while (await r.ReadAsync(ct))
        {
            var id = r.GetGuid(0);
            if (id != streamId)
            {
                if (await Finish(pending, pendingData, document, version, session, ct) is { } done) yield return (done, version);
                pending.Clear();
                pendingData.Clear();
                document = null;
            }
            else if (pending.Count + pendingData.Count == foldEvery)
            {
                document = await Finish(pending, pendingData, document, version, session, ct);
                pending.Clear();
                pendingData.Clear();
            }
            streamId = id;
            version = r.GetInt64(1);
            eventCount++;
            if (r.IsDBNull(5)) continue; // a type the snapshot does not store anything of: its version counts, nothing else
            var data = serializer.FromJson(eventTypes[r.GetString(4)], r, 5);
            if (foldMany is not null)
            {
                pendingData.Add(data);
                continue;
            }
            var e = graph.BuildEvent(data);
            e.StreamId = id;
            e.Version = version;
            e.Sequence = r.GetInt64(2);
            e.Id = r.GetGuid(3);
            e.Timestamp = r.GetFieldValue<DateTimeOffset>(6);
            pending.Add(e);
        }
        if (await Finish(pending, pendingData, document, version, session, ct) is { } last) yield return (last, version);
    }

    /// <summary>The pending events folded onto <paramref name="document"/>; <paramref name="version"/> is the last one's.</summary>
    private async Task<T?> Finish(List<IEvent> pending, List<object> pendingData, T? document, long version, IQuerySession session, CancellationToken ct) =>
        pendingData.Count > 0 ? foldMany!(document, pendingData, version)
        : pending.Count > 0 ? await aggregator.BuildAsync(pending, session, document, ct)
        : document;

    private string CopyDocuments() => $"copy {shadow}.{tableName} (id, data, mt_dotnet_type, mt_version) from stdin (format binary)";

    /// <summary>A document as Marten writes a snapshot: the serializer's JSON, the .NET type, the stream version as its revision; <c>mt_last_modified</c> is the column's default.</summary>
    private async Task WriteDocument(NpgsqlBinaryImporter copy, T document, long version, CancellationToken ct)
    {
        await copy.StartRowAsync(ct);
        await copy.WriteAsync(idOf(document), NpgsqlDbType.Uuid, ct);
        // Version is the stream version (Marten's aggregator sets it), as the service's writes (FetchForWriting) and Marten's daemon have it.
        await copy.WriteAsync(json.Write(document), NpgsqlDbType.Jsonb, ct);
        await copy.WriteAsync(dotNetType, NpgsqlDbType.Varchar, ct);
        await copy.WriteAsync(version, NpgsqlDbType.Bigint, ct);
    }

    /// <summary>
    /// Locks the live table against writes, folds again the streams changed since the last pass, and puts the new table in its place, in
    /// one transaction. Returns how long writers were held.
    /// </summary>
    private async Task<TimeSpan> SwapAsync(NpgsqlConnection connection, IQuerySession session, CancellationToken ct)
    {
        await using var tx = await connection.BeginTransactionAsync(ct);
        await Execute(connection, $"set local lock_timeout = '{(int)LockTimeout.TotalMilliseconds}ms'", ct, tx);
        var live = $"{schema}.{tableName}";
        bool exists;
        await using (var check = new NpgsqlCommand("select to_regclass(@t) is not null", connection, tx))
        {
            check.Parameters.AddWithValue("t", live);
            exists = (bool)(await check.ExecuteScalarAsync(ct))!;
        }
        var held = Stopwatch.StartNew();
        try
        {
            // Waits for the transactions writing documents to commit (their events are then visible below) and holds new ones until the swap
            // commits; reads go on from the old table until the drop.
            if (exists) await Execute(connection, $"lock table {live} in exclusive mode", ct, tx);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            throw new InvalidOperationException(
                $"The live {ProjectionName} table stayed locked by other transactions for {LockTimeout.TotalSeconds:0} s, so the rebuilt table was not swapped in; nothing changed. Run the rebuild again.", e);
        }
        held.Restart();
        await At(Phase.LiveTableLocked);

        // Read committed: after the lock, every transaction that wrote a document has committed, and its events are read here.
        await RefoldChanged(connection, tx, connection, tx, session, ct);
        await Execute(connection, $"drop table if exists {live}; alter table {shadow}.{tableName} set schema {schema}", ct, tx);
        await tx.CommitAsync(ct);
        return held.Elapsed;
    }
}
