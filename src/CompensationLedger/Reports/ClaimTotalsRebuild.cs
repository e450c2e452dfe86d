using CompensationLedger.Infrastructure;
using System.Diagnostics;
using Marten;
using Npgsql;
using NpgsqlTypes;

namespace CompensationLedger.Reports;

/// <summary>
/// Rebuilds <see cref="ClaimTotalsProjection"/>'s tables from the events <b>while the service runs</b> (issue #5), and fast
/// (issue #7): the new tables are built beside the live ones and swapped in, so reports answer from the old, complete tables
/// until the new ones take over, and no decision recorded meanwhile is lost.
/// <list type="number">
/// <item>Empty copies of the tables (claims, changes, and <see cref="ClaimTotalsRollup"/>'s rollup and checkpoint) are created in a schema of their own (<c>{schema}_rebuild</c>), with the same names,
/// columns, keys and indexes (<see cref="ClaimTotalsProjection.Schema"/>), the secondary indexes only once they are filled.</item>
/// <item>The claim and payout events are read in log order and folded in memory with <see cref="ClaimTotalsLine"/> (the
/// definition the projection's SQL follows); each event's change row is written as it is folded, with binary COPY, and each
/// claim's row once at the end. One pass over the log, no statement per event.</item>
/// <item>Events committed meanwhile are folded in catch-up passes. A pass reads, in one snapshot, the events after the last one
/// seen and the sequence numbers it did not see below it (a transaction that took its number earlier and had not committed);
/// those are read again in every later pass, so an event committed late is folded too, once.</item>
/// <item>The swap: in one transaction, the live tables are locked against writes (<c>EXCLUSIVE</c>: reports still read them), the
/// last events are folded, the live tables are dropped and the new ones moved into their place. A transaction that was about to
/// write the totals waits for the lock and then writes to the new tables (PostgreSQL resolves the name again), with the rows the
/// rebuild just made. Every event is thus counted once: by the rebuild if it committed before the lock, live otherwise. The new rollup
/// is advanced over the new change rows before the lock and once more in the swap, so it takes over consistent with them.</item>
/// </list>
/// A failure before the swap drops the new tables and leaves the live ones as they were; one rebuild runs at a time.
/// </summary>
public sealed class ClaimTotalsRebuild
{
    /// <summary>Points a test can act at (append events, hold a transaction open) to race the rebuild deterministically.</summary>
    public enum Phase { TablesCreated, FirstPassDone, ClaimRowsWritten, LiveTablesLocked }

    public sealed record Result(long Events, int Claims, long ChangeRows, int CatchUpPasses, long LateEvents, TimeSpan Elapsed, TimeSpan Locked);

    private const int CatchUpUntilFewerThan = 1_000;
    private const int MaxCatchUpPasses = 10;
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(60);

    private readonly IDocumentStore store;
    private readonly Func<Phase, Task>? atPhase;
    private readonly Action<string> log;
    private readonly Marten.ISerializer serializer;
    private readonly string schema, shadow, events;
    private readonly string dataColumn; // the events' data as this rebuild reads it (TotalsData)
    private readonly Dictionary<string, Type> eventTypes;
    private readonly Dictionary<Guid, State> states = [];
    private readonly Dictionary<string, string> names = new(StringComparer.Ordinal); // the group keys, one string each
    private readonly HashSet<Guid> dirty = [];
    private long seenUpTo; // every event at or below it was read, except the sequence numbers in `unseen`
    private long[] unseen = [];
    private long eventCount, changeRows, lateEvents;

    private sealed record State(ClaimTotalsLine Line, long LastEventAtNs, long MaxAtNs, bool Ordered);

    private ClaimTotalsRebuild(IDocumentStore store, Action<string>? log, Func<Phase, Task>? atPhase)
    {
        this.store = store;
        this.atPhase = atPhase;
        this.log = log ?? (_ => { });
        var options = (StoreOptions)store.Options;
        serializer = options.Serializer();
        schema = options.DatabaseSchemaName;
        shadow = schema + "_rebuild";
        events = $"{options.Events.DatabaseSchemaName}.mt_events";
        var graph = (Marten.Events.EventGraph)options.Events;
        eventTypes = ClaimTotalsProjection.AppliedEventTypes.ToDictionary(t => graph.EventMappingFor(t).EventTypeName, t => t);
        dataColumn = TotalsData(graph.EventMappingFor(typeof(Claims.ClaimVerified)).EventTypeName);
    }

    /// <summary>
    /// The events' data as the totals need it: a verification's checks, each with its evidence sentence (85 % of its JSON,
    /// the largest events of a ledger: 240 MB of 1,015,144 events' 920 MB), read as an empty list. The totals take a verification's
    /// result and time only (<see cref="ClaimTotalsLine.Apply(Claims.ClaimVerified)"/>), so PostgreSQL sends, and the rebuild parses,
    /// a few hundred bytes per verification instead of every check.
    /// </summary>
    internal static string TotalsData(string verifiedType) =>
        $"case when type = '{verifiedType}' then jsonb_set(data, '{{{System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(nameof(Claims.ClaimVerified.Checks))}}}', '[]') else data end";

    /// <summary>Rebuilds the tables of the store's schema; <paramref name="log"/> gets a line per stage.</summary>
    public static Task<Result> RunAsync(IDocumentStore store, Action<string>? log, CancellationToken ct) =>
        new ClaimTotalsRebuild(store, log, null).RunAsync(ct);

    /// <summary>As <see cref="RunAsync(IDocumentStore, Action{string}?, CancellationToken)"/>, calling <paramref name="atPhase"/> at each <see cref="Phase"/> (tests).</summary>
    internal static Task<Result> RunWithPhasesAsync(IDocumentStore store, Func<Phase, Task> atPhase, CancellationToken ct) =>
        new ClaimTotalsRebuild(store, null, atPhase).RunAsync(ct);

    private async Task<Result> RunAsync(CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await using var writer = await Open(ct);
        await using var reader = await Open(ct);
        // One rebuild at a time: a second would drop the first one's tables under it. A session lock, released below (a pooled
        // connection's session outlives its closing), or by PostgreSQL if this process dies.
        var lockName = $"{schema}.{ClaimTotalsProjection.ProjectionName} rebuild";
        await SwapInRebuild.LockAsync(writer, lockName, ClaimTotalsProjection.ProjectionName, ct);

        try
        {
            await Execute(writer, $"drop schema if exists {shadow} cascade; create schema {shadow}", ct);
            // The projection's own table definitions (Weasel's DDL, as the migrations have it), the secondary indexes built once filled.
            var tables = ClaimTotalsProjection.Schema(shadow);
            var indexes = tables.SelectMany(t => t.Indexes.Select(i => i.ToDDL(t))).ToList();
            foreach (var table in tables)
            {
                table.Indexes.Clear();
                await Execute(writer, table.ToBasicCreateTableSql(), ct);
            }
            await At(Phase.TablesCreated);

            var first = await PassAsync(reader, writer, ct);
            log($"{ClaimTotalsProjection.ProjectionName}: {first:N0} events folded into {states.Count:N0} claims in {clock.Elapsed.TotalSeconds:0.0} s");
            await At(Phase.FirstPassDone);

            var passes = 0;
            for (long last = first; last >= CatchUpUntilFewerThan && passes < MaxCatchUpPasses; passes++) last = await PassAsync(reader, writer, ct);
            dirty.Clear();
            await CopyClaims(writer, states, ct);
            foreach (var index in indexes) await Execute(writer, index, ct);
            await Execute(writer, string.Join("; ", tables.Select(t => $"analyze {t.Identifier.QualifiedName}")), ct);
            passes += await CatchUpUnlocked(reader, writer, ct);
            // The rollup of the change rows committed so far, before the lock, so the swap only adds the last few.
            await AdvanceRollup(writer, null, ct);
            await At(Phase.ClaimRowsWritten);

            var locked = await SwapAsync(writer, ct);
            var result = new Result(eventCount, states.Count, changeRows, passes, lateEvents, clock.Elapsed, locked);
            log($"{ClaimTotalsProjection.ProjectionName}: rebuilt from {result.Events:N0} events ({result.Claims:N0} claims, {result.ChangeRows:N0} change rows) in "
                + $"{result.Elapsed.TotalSeconds:0.0} s; {result.CatchUpPasses} catch-up passes, {result.LateEvents} events committed out of order; writes waited {result.Locked.TotalMilliseconds:0} ms for the swap");
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

    /// <summary>Rows changed since the claim rows were copied are written again: at most a pass or two of events, before the lock.</summary>
    private async Task<int> CatchUpUnlocked(NpgsqlConnection reader, NpgsqlConnection writer, CancellationToken ct)
    {
        var folded = await PassAsync(reader, writer, ct);
        await RewriteDirtyClaims(writer, null, ct);
        return folded > 0 ? 1 : 0;
    }

    /// <summary>
    /// One pass in one snapshot (<c>REPEATABLE READ</c>): the events after <see cref="seenUpTo"/> and those numbered in
    /// <see cref="unseen"/>, in log order, folded and their change rows copied; then what this snapshot did not see below its
    /// highest number becomes <see cref="unseen"/>. Returns the number of events folded.
    /// </summary>
    private async Task<long> PassAsync(NpgsqlConnection reader, NpgsqlConnection writer, CancellationToken ct)
    {
        await using var tx = await reader.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var (highest, missing) = await SwapInRebuild.SnapshotBoundsAsync(reader, tx, events, seenUpTo, unseen, ct);

        long folded;
        await using (var changes = await writer.BeginBinaryImportAsync(CopyChanges(shadow), ct))
        {
            folded = await FoldEvents(reader, tx, seenUpTo, unseen, changes, ct);
            await changes.CompleteAsync(ct);
        }
        await tx.CommitAsync(ct);
        seenUpTo = highest;
        unseen = missing;
        return folded;
    }

    /// <summary>The totals' events after <paramref name="after"/> and those numbered <paramref name="late"/>, in log order (seq_id, id, type, data).</summary>
    private NpgsqlCommand ReadEvents(NpgsqlConnection connection, NpgsqlTransaction? tx, long after, long[] late)
    {
        var command = new NpgsqlCommand(
            $"""
             select seq_id, id, type, {dataColumn} from {events}
             where (seq_id > @after or seq_id = any(@late)) and type = any(@types) and not is_archived
             order by seq_id
             """, connection, tx);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("late", late);
        command.Parameters.AddWithValue("types", eventTypes.Keys.ToArray());
        return command;
    }

    /// <summary>Reads the events after <paramref name="after"/> and those numbered <paramref name="late"/>, folds them and copies their change rows.</summary>
    private async Task<long> FoldEvents(NpgsqlConnection connection, NpgsqlTransaction? tx, long after, long[] late, NpgsqlBinaryImporter changes, CancellationToken ct)
    {
        var lateSet = late.ToHashSet();
        await using var command = ReadEvents(connection, tx, after, late);
        await using var r = await command.ExecuteReaderAsync(ct);
        long folded = 0;
        while (await r.ReadAsync(ct))
        {
            var seq = r.GetInt64(0);
            var id = r.GetGuid(1);
            var type = eventTypes[r.GetString(2)];
            var data = serializer.FromJson(type, r, 3);
            if (lateSet.Contains(seq)) lateEvents++;
            Fold(id, data, changes);
            folded++;
        }
        eventCount += folded;
        return folded;
    }

    /// <summary>
    /// One event into the claims it counts for, as <see cref="ClaimTotalsProjection"/>'s SQL applies it: a filing starts a row (a second
    /// filing of the same claim changes nothing), any other event moves an existing row (a claim the totals do not know changes nothing),
    /// and each move writes a change row of figures after minus before, even when nothing but the time moved.
    /// </summary>
    private void Fold(Guid eventId, object data, NpgsqlBinaryImporter changes)
    {
        var at = ReportTime.Ns(ClaimTotalsLine.BusinessTime(data)!.Value);
        foreach (var claimId in ClaimTotalsLine.ClaimIdsOf(data))
        {
            states.TryGetValue(claimId, out var before);
            State after;
            if (data is Claims.ClaimFiled filed)
            {
                if (before is not null) continue;
                after = new State(Shared(ClaimTotalsLine.Start(filed)), at, at, Ordered: true);
            }
            else
            {
                if (before is null) continue;
                after = new State(ClaimTotalsLine.Applying(before.Line, data)!, at, Math.Max(before.MaxAtNs, at), before.Ordered && at >= before.MaxAtNs);
            }
            states[claimId] = after;
            dirty.Add(claimId);
            WriteChange(changes, eventId, after, before);
        }
    }

    /// <summary>The line with its group keys as one shared string each (a few hundred distinct keys over hundreds of thousands of claims).</summary>
    private ClaimTotalsLine Shared(ClaimTotalsLine line) => line with
    {
        Platform = Name(line.Platform), SupplierAccount = Name(line.SupplierAccount), BuyerCountry = Name(line.BuyerCountry), FundCurrency = Name(line.FundCurrency),
        AmountPaid = line.AmountPaid with { Currency = Name(line.AmountPaid.Currency) },
    };

    private string Name(string value)
    {
        if (names.TryGetValue(value, out var shared)) return shared;
        names[value] = value;
        return value;
    }

    private static string CopyChanges(string schema) =>
        $"copy {schema}.{ClaimTotalsProjection.ChangesTable} (claim_id, event_id, at_ns, {string.Join(", ", ClaimTotalsProjection.Keys)}, "
        + $"{string.Join(", ", ClaimTotalsProjection.Figures.Select(f => f.Column))}) from stdin (format binary)";

    private void WriteChange(NpgsqlBinaryImporter w, Guid eventId, State after, State? before)
    {
        var line = after.Line;
        w.StartRow();
        w.Write(line.Id, NpgsqlDbType.Uuid);
        w.Write(eventId, NpgsqlDbType.Uuid);
        w.Write(after.LastEventAtNs, NpgsqlDbType.Bigint);
        w.Write(line.CaseId, NpgsqlDbType.Uuid);
        w.Write(line.Platform, NpgsqlDbType.Varchar);
        w.Write(line.SupplierAccount, NpgsqlDbType.Varchar);
        w.Write(line.BuyerCountry, NpgsqlDbType.Varchar);
        w.Write(line.PaymentMonth, NpgsqlDbType.Varchar);
        w.Write(line.FundCurrency, NpgsqlDbType.Varchar);
        w.Write(line.AmountPaid.Currency, NpgsqlDbType.Varchar);
        var now = ClaimTotalsProjection.FigureValues(line);
        var then = before is null ? null : ClaimTotalsProjection.FigureValues(before.Line);
        var figures = ClaimTotalsProjection.Figures;
        for (var i = 0; i < now.Length; i++)
        {
            // A filing's change is its figures themselves; a later event's is after minus before (decimal keeps the larger scale, as numeric does).
            var change = then is null ? now[i] : now[i] - then[i];
            if (figures[i].IsCount) w.Write((int)change, NpgsqlDbType.Integer);
            else w.Write(change, NpgsqlDbType.Numeric);
        }
        changeRows++;
    }

    private async Task CopyClaims(NpgsqlConnection connection, IEnumerable<KeyValuePair<Guid, State>> rows, CancellationToken ct)
    {
        var list = rows.Select(r => r.Value).ToList();
        if (list.Count == 0) return;
        var columns = ClaimTotalsProjection.RowOf(list[0].Line, 0, 0, true).Select(c => c.Column);
        await using var w = await connection.BeginBinaryImportAsync($"copy {shadow}.{ClaimTotalsProjection.ClaimsTable} ({string.Join(", ", columns)}) from stdin (format binary)", ct);
        foreach (var state in list)
        {
            await w.StartRowAsync(ct);
            foreach (var (_, value) in ClaimTotalsProjection.RowOf(state.Line, state.LastEventAtNs, state.MaxAtNs, state.Ordered))
                if (value is null) await w.WriteNullAsync(ct);
                else await w.WriteAsync(value, ct);
        }
        await w.CompleteAsync(ct);
    }

    private async Task AdvanceRollup(NpgsqlConnection connection, NpgsqlTransaction? tx, CancellationToken ct)
    {
        if (tx is not null)
        {
            await ClaimTotalsRollup.AdvanceAsync(connection, tx, shadow, ct);
            return;
        }
        await using var own = await connection.BeginTransactionAsync(ct);
        await ClaimTotalsRollup.AdvanceAsync(connection, own, shadow, ct);
        await own.CommitAsync(ct);
    }

    private async Task RewriteDirtyClaims(NpgsqlConnection connection, NpgsqlTransaction? tx, CancellationToken ct)
    {
        if (dirty.Count == 0) return;
        await using (var delete = new NpgsqlCommand($"delete from {shadow}.{ClaimTotalsProjection.ClaimsTable} where claim_id = any(@ids)", connection, tx))
        {
            delete.Parameters.AddWithValue("ids", dirty.ToArray());
            await delete.ExecuteNonQueryAsync(ct);
        }
        await CopyClaims(connection, dirty.Select(id => new KeyValuePair<Guid, State>(id, states[id])), ct);
        dirty.Clear();
    }

    /// <summary>
    /// Locks the live tables against writes, folds what committed since the last pass, and puts the new tables in their place, in one
    /// transaction. Returns how long writers were held.
    /// </summary>
    private async Task<TimeSpan> SwapAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var tx = await connection.BeginTransactionAsync(ct);
        await Execute(connection, $"set local lock_timeout = '{(int)LockTimeout.TotalMilliseconds}ms'", ct, tx);
        // The rollup's tables locked first: an advance locks the checkpoint before it writes the rollup, so taking them in the other
        // order could deadlock with one.
        var live = ClaimTotalsProjection.Tables.OrderBy(t => t switch { ClaimTotalsProjection.CheckpointTable => 0, ClaimTotalsProjection.RollupTable or ClaimTotalsProjection.MonthlyTable or ClaimTotalsProjection.DailyTable => 1, _ => 2 })
            .Select(t => $"{schema}.{t}").ToArray();
        var existing = new List<string>();
        foreach (var table in live)
        {
            await using var exists = new NpgsqlCommand("select to_regclass(@t) is not null", connection, tx);
            exists.Parameters.AddWithValue("t", table);
            if ((bool)(await exists.ExecuteScalarAsync(ct))!) existing.Add(table);
        }
        var held = Stopwatch.StartNew();
        try
        {
            // Waits for transactions writing the totals to commit (their events are then visible below) and holds new ones until the
            // swap commits; reports go on reading the old tables until the drop.
            if (existing.Count > 0) await Execute(connection, $"lock table {string.Join(", ", existing)} in exclusive mode", ct, tx);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            throw new InvalidOperationException(
                $"The live {ClaimTotalsProjection.ProjectionName} tables stayed locked by other transactions for {LockTimeout.TotalSeconds:0} s, so the rebuilt tables were not swapped in; nothing changed. Run the rebuild again.", e);
        }
        held.Restart();
        await At(Phase.LiveTablesLocked);

        // The last events, read in this transaction (after the lock: everything that wrote the totals has committed), then copied.
        var tail = new List<(Guid Id, object Data, bool Late)>();
        var lateSet = unseen.ToHashSet();
        await using (var command = ReadEvents(connection, tx, seenUpTo, unseen))
        {
            await using var r = await command.ExecuteReaderAsync(ct);
            while (await r.ReadAsync(ct))
            {
                var seq = r.GetInt64(0);
                var id = r.GetGuid(1);
                tail.Add((id, serializer.FromJson(eventTypes[r.GetString(2)], r, 3), lateSet.Contains(seq)));
            }
        }
        await using (var changes = await connection.BeginBinaryImportAsync(CopyChanges(shadow), ct))
        {
            foreach (var (id, data, late) in tail)
            {
                Fold(id, data, changes);
                if (late) lateEvents++;
            }
            await changes.CompleteAsync(ct);
        }
        eventCount += tail.Count;
        await RewriteDirtyClaims(connection, tx, ct);
        // The new rollup absorbs what committed since its first advance. The change rows this transaction just wrote stay in its tail
        // (their transaction is running), as do those of writers waiting for the lock: they will write to the new tables with ids at
        // or above this horizon. So reports after the swap count each change row once, in the rollup or the tail.
        await AdvanceRollup(connection, tx, ct);

        await Execute(connection,
            string.Join("; ", live.Select(t => $"drop table if exists {t}").Concat(ClaimTotalsProjection.Tables.Select(t => $"alter table {shadow}.{t} set schema {schema}"))),
            ct, tx);
        await tx.CommitAsync(ct);
        return held.Elapsed;
    }
}
