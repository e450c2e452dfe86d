using CompensationLedger.Infrastructure;
using System.Diagnostics;
using CompensationLedger.Funds;
using Marten;
using NodaTime;
using Npgsql;
using NpgsqlTypes;
using static CompensationLedger.Reports.FundReportProjection;

namespace CompensationLedger.Reports;

/// <summary>
/// Rebuilds <see cref="FundReportProjection"/>'s tables from the events <b>while the service runs</b> (issue #5), and fast (issue
/// #7), as <see cref="ClaimTotalsRebuild"/> does the paid-vs-lost tables: built beside the live ones and swapped in.
/// <list type="number">
/// <item>Empty copies of the tables in a schema of their own (<c>{schema}_rebuild_fund</c>, so that it runs beside the paid-vs-lost
/// rebuild), from <see cref="FundReportProjection.Schema"/>; the secondary indexes once they are filled.</item>
/// <item>The fund events are read in log order and folded in memory into the rows the projection writes (its own row definitions:
/// <see cref="FundRow"/>, <see cref="PoolRow"/>, <see cref="Posted"/>, <see cref="PayoutRow"/>, <see cref="PayoutClaimRow"/>,
/// <see cref="StatementLineRow"/>, <see cref="EntitlementRow"/>), with the same idempotence (a row is written once; a payout settled or
/// returned is updated; an entitlement takes an event newer than its row only).
/// The postings of each pool account are kept in business-time order with their running totals: a posting stamped earlier than
/// those already there (a clock set back) moves the totals of the later ones, as the projection's update does. The rows are then
/// copied with binary COPY: one pass over the log, no statement per event.</item>
/// <item>Catch-up passes and the swap as in <see cref="ClaimTotalsRebuild"/>: each pass reads, in one snapshot, the events after the
/// last one seen and the sequence numbers it had not seen below it, so an event committed late is folded once; rows changed after the
/// copy are written again; the swap locks the live tables (<c>EXCLUSIVE</c>, reports still read them), folds the last events, drops
/// the live tables and moves the new ones into their place, in one transaction. A writer waiting for the lock then writes into the
/// new tables (PostgreSQL resolves the name again), whose rows already hold every event committed before it.</item>
/// </list>
/// A failure before the swap drops the new tables and leaves the live ones as they were; one rebuild of these tables runs at a time.
/// </summary>
public sealed class FundReportsRebuild
{
    /// <summary>Points a test can act at (append events, hold a transaction open) to race the rebuild deterministically.</summary>
    public enum Phase { TablesCreated, FirstPassDone, RowsWritten, LiveTablesLocked }

    public sealed record Result(long Events, long Postings, int Payouts, int CatchUpPasses, long LateEvents, TimeSpan Elapsed, TimeSpan Locked);

    private const int CatchUpUntilFewerThan = 1_000;
    private const int MaxCatchUpPasses = 10;
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(60);

    private static readonly Type[] AppliedEventTypes =
    [
        typeof(FundEstablished), typeof(PoolOpened), typeof(PoolDeposited), typeof(EntitlementRecorded), typeof(RoundPrepared), typeof(RoundCancelled), typeof(RoundReleased),
        typeof(PayoutSettled), typeof(PayoutReturned), typeof(PayoutReissued), typeof(PayoutReissuePrepared), typeof(PayoutReissueWithdrawn),
        typeof(BankStatementImported),
    ];

    private readonly IDocumentStore store;
    private readonly Func<Phase, Task>? atPhase;
    private readonly Action<string> log;
    private readonly Marten.ISerializer serializer;
    private readonly string schema, shadow, events;
    private readonly Dictionary<string, (Type Type, string Name)> eventTypes;
    private readonly Dictionary<string, string> names = new(StringComparer.Ordinal); // currencies, platforms, accounts, countries: one string each

    private readonly Rows<Guid, FundRow> funds = new(FundsTable, ["fund_id"]);
    private readonly Rows<(Guid, Guid), PoolRow> pools = new(PoolsTable, ["fund_id", "pool_id"]);
    private readonly Dictionary<(Guid Fund, Guid Pool, string Account), List<PostingRow>> accounts = [];
    private readonly HashSet<PostingRow> dirtyPostings = [];
    private readonly Rows<Guid, PayoutRow> payouts = new(PayoutsTable, ["payout_id"]);
    private readonly Rows<(Guid, string, int), StatementLineRow> statementLines = new(StatementLinesTable, ["fund_id", "statement_id", "line"]);
    private readonly Rows<(Guid, Guid), PayoutClaimRow> payoutClaims = new(PayoutClaimsTable, ["claim_id", "payout_id"]);
    private readonly Rows<(Guid, Guid), EntitlementRow> entitlements = new(EntitlementsTable, ["fund_id", "claim_id"]);
    private long seenUpTo; // every event at or below it was read, except the sequence numbers in `unseen`
    private long[] unseen = [];
    private long eventCount, postingCount, lateEvents;
    private readonly Stopwatch folding = new(); // time spent deserializing and folding, as opposed to waiting for rows

    /// <summary>A table's rows by primary key, and the keys written since the rows were copied (to be written again).</summary>
    private sealed class Rows<TKey, TRow>(string table, string[] key) where TKey : notnull
    {
        public readonly string Table = table;
        public readonly string[] Key = key;
        public readonly Dictionary<TKey, TRow> All = [];
        public readonly HashSet<TKey> Dirty = [];

        /// <summary><c>insert ... on conflict do nothing</c>.</summary>
        public void Insert(TKey key, TRow row)
        {
            if (All.TryAdd(key, row)) Dirty.Add(key);
        }

        /// <summary>A row already read (by <c>All</c>) changed.</summary>
        public void Set(TKey key, TRow row)
        {
            All[key] = row;
            Dirty.Add(key);
        }

        /// <summary><c>update ... where key = ...</c>: nothing when there is no such row.</summary>
        public void Update(TKey key, Func<TRow, TRow> change)
        {
            if (!All.TryGetValue(key, out var row)) return;
            All[key] = change(row);
            Dirty.Add(key);
        }
    }

    /// <summary>A row of <c>report_postings</c>: what the event posted to the account and the account's totals up to it.</summary>
    private sealed class PostingRow(Guid fundId, long ns, long version, Instant at, Guid eventId, string eventType, Posted posted)
    {
        public readonly Guid FundId = fundId;
        public readonly long Ns = ns, Version = version;
        public readonly Instant At = at;
        public readonly Guid EventId = eventId;
        public readonly string EventType = eventType;
        public readonly Posted Posted = posted;
        public decimal DebitTotal, CreditTotal;

        public int CompareTo(long ns, long version) => Ns != ns ? Ns.CompareTo(ns) : Version.CompareTo(version);
    }

    private FundReportsRebuild(IDocumentStore store, Action<string>? log, Func<Phase, Task>? atPhase)
    {
        this.store = store;
        this.atPhase = atPhase;
        this.log = log ?? (_ => { });
        var options = (StoreOptions)store.Options;
        serializer = options.Serializer();
        schema = options.DatabaseSchemaName;
        shadow = schema + "_rebuild_fund";
        events = $"{options.Events.DatabaseSchemaName}.mt_events";
        var graph = (Marten.Events.EventGraph)options.Events;
        eventTypes = AppliedEventTypes.Select(t => graph.EventMappingFor(t).EventTypeName).Zip(AppliedEventTypes).ToDictionary(p => p.First, p => (p.Second, p.First));
    }

    /// <summary>Rebuilds the tables of the store's schema; <paramref name="log"/> gets a line per stage.</summary>
    public static Task<Result> RunAsync(IDocumentStore store, Action<string>? log, CancellationToken ct) =>
        new FundReportsRebuild(store, log, null).RunAsync(ct);

    /// <summary>As <see cref="RunAsync(IDocumentStore, Action{string}?, CancellationToken)"/>, calling <paramref name="atPhase"/> at each <see cref="Phase"/> (tests).</summary>
    internal static Task<Result> RunWithPhasesAsync(IDocumentStore store, Func<Phase, Task> atPhase, CancellationToken ct) =>
        new FundReportsRebuild(store, null, atPhase).RunAsync(ct);

    private async Task<Result> RunAsync(CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        await using var writer = await Open(ct);
        await using var reader = await Open(ct);
        // One rebuild at a time: a second would drop the first one's tables under it (a session lock, released below or by PostgreSQL
        // if this process dies).
        var lockName = $"{schema}.{ProjectionName} rebuild";
        await SwapInRebuild.LockAsync(writer, lockName, ProjectionName, ct);

        try
        {
            await Execute(writer, $"drop schema if exists {shadow} cascade; create schema {shadow}", ct);
            var tables = FundReportProjection.Schema(shadow);
            var indexes = tables.SelectMany(t => t.Indexes.Select(i => i.ToDDL(t))).ToList();
            foreach (var table in tables)
            {
                table.Indexes.Clear();
                await Execute(writer, table.ToBasicCreateTableSql(), ct);
            }
            await At(Phase.TablesCreated);

            var first = await PassAsync(reader, ct);
            log($"{ProjectionName}: {first:N0} events folded into {postingCount:N0} postings, {payouts.All.Count:N0} payouts and {entitlements.All.Count:N0} entitlements in {clock.Elapsed.TotalSeconds:0.0} s "
                + $"({folding.Elapsed.TotalSeconds:0.0} s deserializing and folding, the rest reading)");
            await At(Phase.FirstPassDone);

            var passes = 0;
            for (long last = first; last >= CatchUpUntilFewerThan && passes < MaxCatchUpPasses; passes++) last = await PassAsync(reader, ct);
            var copied = clock.Elapsed;
            await CopyAll(writer, ct);
            var indexed = clock.Elapsed;
            foreach (var index in indexes) await Execute(writer, index, ct);
            // The register's day totals, from the payout rows just copied (rows rewritten later recompute their days: RewriteDirty).
            await Execute(writer, FundReportProjection.PayoutDaysSql(shadow, null), ct);
            await Execute(writer, string.Join("; ", tables.Select(t => $"analyze {t.Identifier.QualifiedName}")), ct);
            log($"{ProjectionName}: rows copied in {(indexed - copied).TotalSeconds:0.0} s, indexed and analyzed in {(clock.Elapsed - indexed).TotalSeconds:0.0} s");
            // What committed while the rows were copied, before the lock.
            if (await PassAsync(reader, ct) > 0) passes++;
            await RewriteDirty(writer, null, ct);
            await At(Phase.RowsWritten);

            var locked = await SwapAsync(writer, ct);
            var result = new Result(eventCount, postingCount, payouts.All.Count, passes, lateEvents, clock.Elapsed, locked);
            log($"{ProjectionName}: rebuilt from {result.Events:N0} events ({result.Postings:N0} postings, {result.Payouts:N0} payouts) in {result.Elapsed.TotalSeconds:0.0} s; "
                + $"{result.CatchUpPasses} catch-up passes, {result.LateEvents} events committed out of order; writes waited {result.Locked.TotalMilliseconds:0} ms for the swap");
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

    /// <summary>
    /// One pass in one snapshot (<c>REPEATABLE READ</c>): the events after <see cref="seenUpTo"/> and those numbered in
    /// <see cref="unseen"/>, in log order, folded; then what this snapshot did not see below its highest number becomes
    /// <see cref="unseen"/> (as <see cref="ClaimTotalsRebuild"/> does). Returns the number of events folded.
    /// </summary>
    private async Task<long> PassAsync(NpgsqlConnection reader, CancellationToken ct)
    {
        await using var tx = await reader.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var (highest, missing) = await SwapInRebuild.SnapshotBoundsAsync(reader, tx, events, seenUpTo, unseen, ct);
        var folded = await FoldEvents(reader, tx, ct);
        await tx.CommitAsync(ct);
        seenUpTo = highest;
        unseen = missing;
        return folded;
    }

    /// <summary>Reads the events after <see cref="seenUpTo"/> and those numbered in <see cref="unseen"/>, in log order, and folds them.</summary>
    private async Task<long> FoldEvents(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        var lateSet = unseen.ToHashSet();
        await using var command = new NpgsqlCommand(
            $"""
             select seq_id, id, stream_id, version, type, data from {events}
             where (seq_id > @after or seq_id = any(@late)) and type = any(@types) and not is_archived
             order by seq_id
             """, connection, tx);
        command.Parameters.AddWithValue("after", seenUpTo);
        command.Parameters.AddWithValue("late", unseen);
        command.Parameters.AddWithValue("types", eventTypes.Keys.ToArray());
        await using var r = await command.ExecuteReaderAsync(ct);
        long folded = 0;
        while (await r.ReadAsync(ct))
        {
            folding.Start();
            var (type, typeName) = eventTypes[r.GetString(4)];
            Fold(r.GetGuid(1), r.GetGuid(2), r.GetInt64(3), typeName, serializer.FromJson(type, r, 5));
            folding.Stop();
            if (lateSet.Contains(r.GetInt64(0))) lateEvents++;
            folded++;
        }
        eventCount += folded;
        return folded;
    }

    /// <summary>One event into the rows, as <see cref="FundReportProjection"/>'s SQL writes them.</summary>
    private void Fold(Guid eventId, Guid streamId, long version, string eventType, object data)
    {
        switch (data)
        {
            case FundEstablished e:
                funds.Insert(e.FundId, FundRow.Of(e));
                return;
            case PoolOpened e:
                pools.Insert((e.FundId, e.PoolId), PoolRow.Of(e, version));
                return;
            case BankStatementImported e:
                foreach (var line in StatementLineRow.Of(e)) statementLines.Insert((line.FundId, line.StatementId, line.Line), line);
                return;
            case EntitlementRecorded e:
                // Recorded again (an appeal): the projection's "on conflict do update ... where the row is older".
                if (!entitlements.All.TryGetValue((streamId, e.ClaimId), out var recorded))
                    entitlements.Insert((streamId, e.ClaimId), EntitlementRow.Recorded(streamId, e, version) with
                    {
                        // Held until the copy, hundreds of thousands of rows: one string per platform, supplier account and country.
                        Platform = Name(e.Platform), SupplierAccountId = Name(e.SupplierAccountId), BuyerCountry = Name(e.BuyerCountry),
                    });
                else if (recorded.Version < version) entitlements.Set((streamId, e.ClaimId), recorded.RecordedAgain(e, version));
                return;
        }

        Post(eventId, streamId, version, eventType, data);
        foreach (var change in EntitlementChange.By(data))
            if (entitlements.All.TryGetValue((streamId, change.ClaimId), out var entitlement) && entitlement.Version < version)
                entitlements.Set((streamId, change.ClaimId), entitlement.Moved(change, version));
        switch (data)
        {
            case RoundReleased e:
                foreach (var payout in PayoutRow.IssuedBy(e, serializer)) payouts.Insert(payout.PayoutId, payout);
                foreach (var claim in PayoutClaimRow.IssuedBy(e)) payoutClaims.Insert((claim.ClaimId, claim.PayoutId), claim);
                break;
            case PayoutSettled e:
                payouts.Update(e.PayoutId, p => p.Settled(e));
                break;
            case PayoutReturned e:
                payouts.Update(e.PayoutId, p => p.Returned(e));
                break;
            case PayoutReissued e:
                if (payouts.All.TryGetValue(e.OriginalPayoutId, out var original)) payouts.Insert(e.PayoutId, PayoutRow.ReissuedBy(e, original.RoundId, serializer));
                payouts.Update(e.OriginalPayoutId, p => p.ReplacedBy(e));
                foreach (var claim in PayoutClaimRow.ReissuedBy(e)) payoutClaims.Insert((claim.ClaimId, claim.PayoutId), claim);
                break;
            case PayoutReissuePrepared e:
                payouts.Update(e.PayoutId, p => p.ReissuePrepared(e, serializer));
                break;
            case PayoutReissueWithdrawn e:
                payouts.Update(e.PayoutId, p => p.ReissueWithdrawn());
                break;
        }
    }

    /// <summary>
    /// What the event posts, into each account's rows in business-time order (occurred at, then stream version) with the totals of the
    /// row before plus its own; the rows after it (a clock set back) take its amounts too. A row already there is not posted again.
    /// </summary>
    private void Post(Guid eventId, Guid fundId, long version, string eventType, object data)
    {
        var at = Fund.OccurredAt(data);
        var ns = ReportTime.Ns(at);
        foreach (var posted in Posted.By(data))
        {
            var key = (fundId, posted.PoolId, posted.Account);
            if (!accounts.TryGetValue(key, out var rows)) accounts[key] = rows = [];
            var index = rows.Count;
            while (index > 0 && rows[index - 1].CompareTo(ns, version) > 0) index--;
            if (index > 0 && rows[index - 1].CompareTo(ns, version) == 0) continue;
            var row = new PostingRow(fundId, ns, version, at, eventId, eventType, posted with { Currency = Name(posted.Currency) });
            var before = index > 0 ? rows[index - 1] : null;
            row.DebitTotal = (before?.DebitTotal ?? 0) + posted.Debit;
            row.CreditTotal = (before?.CreditTotal ?? 0) + posted.Credit;
            rows.Insert(index, row);
            dirtyPostings.Add(row);
            for (var later = index + 1; later < rows.Count; later++)
            {
                rows[later].DebitTotal += posted.Debit;
                rows[later].CreditTotal += posted.Credit;
                dirtyPostings.Add(rows[later]);
            }
            postingCount++;
        }
    }

    private string Name(string value)
    {
        if (names.TryGetValue(value, out var shared)) return shared;
        names[value] = value;
        return value;
    }

    /// <summary>Every row, into the new tables (nothing is dirty afterwards).</summary>
    private async Task CopyAll(NpgsqlConnection connection, CancellationToken ct)
    {
        await Copy(connection, shadow, FundsTable, FundColumns, funds.All.Values, WriteFund, ct);
        await Copy(connection, shadow, PoolsTable, PoolColumns, pools.All.Values, WritePool, ct);
        await Copy(connection, shadow, PostingsTable, PostingColumns, accounts.Values.SelectMany(rows => rows), WritePosting, ct);
        await Copy(connection, shadow, PayoutsTable, PayoutColumns, payouts.All.Values, WritePayout, ct);
        await Copy(connection, shadow, StatementLinesTable, StatementLineColumns, statementLines.All.Values, WriteStatementLine, ct);
        await Copy(connection, shadow, PayoutClaimsTable, PayoutClaimColumns, payoutClaims.All.Values, WritePayoutClaim, ct);
        await Copy(connection, shadow, EntitlementsTable, EntitlementColumns, entitlements.All.Values, WriteEntitlement, ct);
        funds.Dirty.Clear();
        pools.Dirty.Clear();
        dirtyPostings.Clear();
        payouts.Dirty.Clear();
        statementLines.Dirty.Clear();
        payoutClaims.Dirty.Clear();
        entitlements.Dirty.Clear();
    }

    /// <summary>The rows changed since they were copied, written again: each table's changed rows copied to a temporary table, then replaced by key.</summary>
    private async Task RewriteDirty(NpgsqlConnection connection, NpgsqlTransaction? tx, CancellationToken ct)
    {
        await Rewrite(connection, tx, funds, FundColumns, WriteFund, ct);
        await Rewrite(connection, tx, pools, PoolColumns, WritePool, ct);
        if (dirtyPostings.Count > 0)
        {
            await Replace(connection, tx, PostingsTable, ["fund_id", "pool_id", "account", "occurred_at_ns", "version"], PostingColumns, dirtyPostings, WritePosting, ct);
            dirtyPostings.Clear();
        }
        var rewrittenPayouts = payouts.Dirty.ToArray();
        await Rewrite(connection, tx, payouts, PayoutColumns, WritePayout, ct);
        await Rewrite(connection, tx, statementLines, StatementLineColumns, WriteStatementLine, ct);
        await Rewrite(connection, tx, payoutClaims, PayoutClaimColumns, WritePayoutClaim, ct);
        await Rewrite(connection, tx, entitlements, EntitlementColumns, WriteEntitlement, ct);
        if (rewrittenPayouts.Length > 0)
        {
            await using var days = new NpgsqlCommand(FundReportProjection.PayoutDaysSql(shadow, "@payouts"), connection, tx);
            days.Parameters.AddWithValue("payouts", rewrittenPayouts);
            await days.ExecuteNonQueryAsync(ct);
        }
    }

    private async Task Rewrite<TKey, TRow>(NpgsqlConnection connection, NpgsqlTransaction? tx, Rows<TKey, TRow> rows, string[] columns, Action<NpgsqlBinaryImporter, TRow> write,
        CancellationToken ct) where TKey : notnull
    {
        if (rows.Dirty.Count == 0) return;
        await Replace(connection, tx, rows.Table, rows.Key, columns, rows.Dirty.Select(k => rows.All[k]).ToList(), write, ct);
        rows.Dirty.Clear();
    }

    private async Task Replace<TRow>(NpgsqlConnection connection, NpgsqlTransaction? tx, string table, string[] key, string[] columns, IEnumerable<TRow> rows,
        Action<NpgsqlBinaryImporter, TRow> write, CancellationToken ct)
    {
        const string changed = "rebuild_changed";
        await Execute(connection, $"drop table if exists pg_temp.{changed}; create temp table {changed} as select * from {shadow}.{table} with no data", ct, tx);
        await Copy(connection, "pg_temp", changed, columns, rows, write, ct);
        await Execute(connection,
            $"""
             delete from {shadow}.{table} t using pg_temp.{changed} c where {string.Join(" and ", key.Select(k => $"t.{k} = c.{k}"))};
             insert into {shadow}.{table} ({string.Join(", ", columns)}) select {string.Join(", ", columns)} from pg_temp.{changed};
             drop table pg_temp.{changed}
             """, ct, tx);
    }

    private static async Task Copy<TRow>(NpgsqlConnection connection, string schema, string table, string[] columns, IEnumerable<TRow> rows,
        Action<NpgsqlBinaryImporter, TRow> write, CancellationToken ct)
    {
        await using var w = await connection.BeginBinaryImportAsync($"copy {schema}.{table} ({string.Join(", ", columns)}) from stdin (format binary)", ct);
        foreach (var row in rows)
        {
            w.StartRow();
            write(w, row);
        }
        await w.CompleteAsync(ct);
    }

    private static readonly string[] FundColumns = ["fund_id", "name", "currency"];

    private static void WriteFund(NpgsqlBinaryImporter w, FundRow r)
    {
        w.Write(r.FundId, NpgsqlDbType.Uuid);
        w.Write(r.Name, NpgsqlDbType.Varchar);
        w.Write(r.Currency, NpgsqlDbType.Varchar);
    }

    private static readonly string[] PoolColumns = ["fund_id", "pool_id", "name", "version", "opened_at_ns"];

    private static void WritePool(NpgsqlBinaryImporter w, PoolRow r)
    {
        w.Write(r.FundId, NpgsqlDbType.Uuid);
        w.Write(r.PoolId, NpgsqlDbType.Uuid);
        w.Write(r.Name, NpgsqlDbType.Varchar);
        w.Write(r.Version, NpgsqlDbType.Bigint);
        w.Write(r.OpenedAtNs, NpgsqlDbType.Bigint);
    }

    private static readonly string[] PostingColumns =
        ["fund_id", "pool_id", "account", "occurred_at_ns", "version", "occurred_at", "event_id", "event_type", "currency", "debit", "credit", "debit_total", "credit_total"];

    private static void WritePosting(NpgsqlBinaryImporter w, PostingRow r)
    {
        w.Write(r.FundId, NpgsqlDbType.Uuid);
        w.Write(r.Posted.PoolId, NpgsqlDbType.Uuid);
        w.Write(r.Posted.Account, NpgsqlDbType.Varchar);
        w.Write(r.Ns, NpgsqlDbType.Bigint);
        w.Write(r.Version, NpgsqlDbType.Bigint);
        w.Write(r.At, NpgsqlDbType.TimestampTz);
        w.Write(r.EventId, NpgsqlDbType.Uuid);
        w.Write(r.EventType, NpgsqlDbType.Varchar);
        w.Write(r.Posted.Currency, NpgsqlDbType.Varchar);
        w.Write(r.Posted.Debit, NpgsqlDbType.Numeric);
        w.Write(r.Posted.Credit, NpgsqlDbType.Numeric);
        w.Write(r.DebitTotal, NpgsqlDbType.Numeric);
        w.Write(r.CreditTotal, NpgsqlDbType.Numeric);
    }

    private static readonly string[] PayoutColumns =
    [
        "payout_id", "fund_id", "reference", "round_id", "claim_id", "claim_reference", "amount", "currency", "issued_at_ns", "settled_at_ns", "returned_at_ns",
        "closed_at_ns", "return_reason", "reissue_of", "issued", "status", "reissued_as", "pending_reissue",
    ];

    private static void WritePayout(NpgsqlBinaryImporter w, PayoutRow r)
    {
        w.Write(r.PayoutId, NpgsqlDbType.Uuid);
        w.Write(r.FundId, NpgsqlDbType.Uuid);
        w.Write(r.Reference, NpgsqlDbType.Varchar);
        w.Write(r.RoundId, NpgsqlDbType.Uuid);
        WriteNullable(w, r.ClaimId, NpgsqlDbType.Uuid);
        w.Write(r.ClaimReference, NpgsqlDbType.Varchar);
        w.Write(r.Amount, NpgsqlDbType.Numeric);
        w.Write(r.Currency, NpgsqlDbType.Varchar);
        w.Write(r.IssuedAtNs, NpgsqlDbType.Bigint);
        WriteNullable(w, r.SettledAtNs, NpgsqlDbType.Bigint);
        WriteNullable(w, r.ReturnedAtNs, NpgsqlDbType.Bigint);
        WriteNullable(w, r.ClosedAtNs, NpgsqlDbType.Bigint);
        if (r.ReturnReason is null) w.WriteNull();
        else w.Write(r.ReturnReason, NpgsqlDbType.Varchar);
        WriteNullable(w, r.ReissueOf, NpgsqlDbType.Uuid);
        w.Write(r.Issued, NpgsqlDbType.Jsonb);
        w.Write(r.Status.ToString(), NpgsqlDbType.Varchar);
        WriteNullable(w, r.ReissuedAs, NpgsqlDbType.Uuid);
        if (r.PendingReissue is null) w.WriteNull();
        else w.Write(r.PendingReissue, NpgsqlDbType.Jsonb);
    }

    private static readonly string[] StatementLineColumns =
        ["fund_id", "statement_id", "line", "imported_at_ns", "date", "reference", "amount", "currency", "direction", "match", "payout_id", "detail"];

    private static void WriteStatementLine(NpgsqlBinaryImporter w, StatementLineRow r)
    {
        w.Write(r.FundId, NpgsqlDbType.Uuid);
        w.Write(r.StatementId, NpgsqlDbType.Varchar);
        w.Write(r.Line, NpgsqlDbType.Integer);
        w.Write(r.ImportedAtNs, NpgsqlDbType.Bigint);
        w.Write(r.Date, NpgsqlDbType.Date);
        w.Write(r.Reference, NpgsqlDbType.Varchar);
        w.Write(r.Amount, NpgsqlDbType.Numeric);
        w.Write(r.Currency, NpgsqlDbType.Varchar);
        w.Write(r.Direction, NpgsqlDbType.Varchar);
        w.Write(r.Match, NpgsqlDbType.Varchar);
        WriteNullable(w, r.PayoutId, NpgsqlDbType.Uuid);
        w.Write(r.Detail, NpgsqlDbType.Varchar);
    }

    private static readonly string[] PayoutClaimColumns = ["claim_id", "payout_id", "fund_id", "amount"];

    private static void WritePayoutClaim(NpgsqlBinaryImporter w, PayoutClaimRow r)
    {
        w.Write(r.ClaimId, NpgsqlDbType.Uuid);
        w.Write(r.PayoutId, NpgsqlDbType.Uuid);
        w.Write(r.FundId, NpgsqlDbType.Uuid);
        w.Write(r.Amount, NpgsqlDbType.Numeric);
    }

    private static readonly string[] EntitlementColumns =
    [
        "fund_id", "claim_id", "claim_reference", "case_id", "platform", "supplier_account_id", "buyer_country", "amount", "allocated", "in_transit", "settled",
        "buyer_key", "version",
    ];

    private static void WriteEntitlement(NpgsqlBinaryImporter w, EntitlementRow r)
    {
        w.Write(r.FundId, NpgsqlDbType.Uuid);
        w.Write(r.ClaimId, NpgsqlDbType.Uuid);
        w.Write(r.ClaimReference, NpgsqlDbType.Text);
        w.Write(r.CaseId, NpgsqlDbType.Uuid);
        w.Write(r.Platform, NpgsqlDbType.Text);
        w.Write(r.SupplierAccountId, NpgsqlDbType.Text);
        w.Write(r.BuyerCountry, NpgsqlDbType.Text);
        w.Write(r.Amount, NpgsqlDbType.Numeric);
        w.Write(r.Allocated, NpgsqlDbType.Numeric);
        w.Write(r.InTransit, NpgsqlDbType.Numeric);
        w.Write(r.Settled, NpgsqlDbType.Numeric);
        if (r.BuyerKey is null) w.WriteNull();
        else w.Write(r.BuyerKey, NpgsqlDbType.Text);
        w.Write(r.Version, NpgsqlDbType.Bigint);
    }

    private static void WriteNullable<T>(NpgsqlBinaryImporter w, T? value, NpgsqlDbType type) where T : struct
    {
        if (value is { } v) w.Write(v, type);
        else w.WriteNull();
    }

    /// <summary>
    /// Locks the live tables against writes, folds what committed since the last pass, and puts the new tables in their place, in one
    /// transaction. Returns how long writers were held.
    /// </summary>
    private async Task<TimeSpan> SwapAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var tx = await connection.BeginTransactionAsync(ct);
        await Execute(connection, $"set local lock_timeout = '{(int)LockTimeout.TotalMilliseconds}ms'", ct, tx);
        // In the order the projection writes them within a transaction (postings, then payouts, then lines or claims, then entitlements,
        // then the day totals: FundReportProjection.Tables), so that a writer
        // holding one of them and waiting for a later one does not deadlock with this lock.
        var live = Tables.Select(t => $"{schema}.{t}").ToArray();
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
            if (existing.Count > 0) await Execute(connection, $"lock table {string.Join(", ", existing)} in exclusive mode", ct, tx);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected)
        {
            throw new InvalidOperationException(
                $"The live {ProjectionName} tables could not be locked ({(e.SqlState == PostgresErrorCodes.LockNotAvailable ? $"held by other transactions for {LockTimeout.TotalSeconds:0} s" : "a deadlock with a writer")}), so the rebuilt tables were not swapped in; nothing changed. Run the rebuild again.", e);
        }
        held.Restart();
        await At(Phase.LiveTablesLocked);

        // The last events, read in this transaction (after the lock: everything that wrote the tables has committed).
        await FoldEvents(connection, tx, ct);
        await RewriteDirty(connection, tx, ct);

        await Execute(connection,
            string.Join("; ", live.Select(t => $"drop table if exists {t}").Concat(Tables.Select(t => $"alter table {shadow}.{t} set schema {schema}"))),
            ct, tx);
        await tx.CommitAsync(ct);
        return held.Elapsed;
    }
}
