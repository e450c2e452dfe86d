using Marten;
using Npgsql;
using Weasel.Postgresql;
using Weasel.Postgresql.Tables;

namespace CompensationLedger.Reports;

/// <summary>
/// The change rows of <see cref="ClaimTotalsProjection"/> summed per group (issue #7), so a "now" report adds up a few thousand
/// rows instead of every claim: <c>report_claim_totals_rollup</c> holds, per grouping the report offers (platform, supplier,
/// country, month; case and the total are sums of the platform rows), case, key, fund currency and currency paid, the sum of every
/// figure over the change rows absorbed so far, <c>report_claim_totals_rollup_monthly</c> the same per UTC month of their business
/// time and <c>report_claim_totals_rollup_daily</c> per UTC day (as-of reports: <see cref="ClaimTotalsSql.AsOfSql"/>: the months
/// before t's, the days of its month before t's, the change rows of t's day); <c>report_claim_totals_checkpoint</c> says which those are.
/// <para>
/// <b>Which rows are absorbed.</b> Each change row carries the id of the transaction that wrote it (<c>xid</c>, an <c>xid8</c>
/// defaulting to <c>pg_current_xact_id()</c>). The checkpoint holds a horizon H: the rollup is exactly the change rows with
/// <c>xid &lt; H</c>. An advance takes H' = the xmin of its snapshot (<c>pg_snapshot_xmin(pg_current_snapshot())</c>), the
/// oldest transaction still running. Every transaction below H' has ended, so its rows are all visible now and none will ever be
/// added (transaction ids are handed out in increasing order, and one that has not written yet gets an id at or above H'); the
/// advance adds the rows with <c>H &lt;= xid &lt; H'</c> and moves H to H', in one transaction. A sequence number would not do:
/// it is taken before commit, so a lower number can commit after a higher one has been absorbed, and be skipped.
/// </para>
/// <para>
/// <b>Reading.</b> "Now" = the rollup + the change rows with <c>xid &gt;= H</c> (the tail, by <c>ix_..._changes_xid</c>), read
/// in one statement, so in one snapshot: it sees the rollup and H of the same advance, and each committed change row either in
/// the rollup (below H) or in the tail (at or above H), never both, never neither. A decision just committed is in the tail:
/// read-your-writes holds. Exact to the cent: sums of <c>numeric</c>, and the change rows of a claim add up to its row (each is its
/// figures after an event minus before).
/// </para>
/// <para>
/// <b>Concurrency.</b> Advances lock the checkpoint row (<c>for update</c>): two service instances advance one after the other,
/// the second from the horizon the first committed. A transaction held open (or a long one anywhere in the cluster) holds the
/// horizon back: its rows and every later one stay in the tail, correct and slower, until it ends.
/// </para>
/// </summary>
public static class ClaimTotalsRollup
{
    public const string RollupTable = "report_claim_totals_rollup";
    public const string CheckpointTable = "report_claim_totals_checkpoint";
    public const string MonthlyTable = "report_claim_totals_rollup_monthly";
    public const string DailyTable = "report_claim_totals_rollup_daily";
    public const string XidColumn = "xid";

    /// <summary>The groupings the rollup keeps, with the key as SQL over a change row (alias <c>r</c>): the keys <see cref="PaidVsLost.KeyOf"/> gives.</summary>
    public static readonly IReadOnlyList<(string Name, string Key)> Groupings =
    [
        ("platform", "r.platform"),
        ("supplier", "r.platform || '/' || r.supplier_account"),
        ("country", "r.buyer_country"),
        ("month", "r.payment_month"),
    ];

    /// <summary>The rollup grouping a report reads: its own, or the platform rows summed per case (<c>case</c>) or in all (no grouping).</summary>
    public static string GroupingFor(PaidVsLostGrouping? grouping) => grouping switch
    {
        PaidVsLostGrouping.Supplier => "supplier",
        PaidVsLostGrouping.Country => "country",
        PaidVsLostGrouping.Month => "month",
        _ => "platform",
    };

    public static IReadOnlyList<Table> Schema(string schema)
    {
        Table New(string name) => new(new PostgresqlObjectName(schema, name, SchemaUtils.IdentifierUsage.General));

        var rollup = New(RollupTable);
        rollup.PrimaryKeyName = $"pkey_{RollupTable}"; // the generated one is longer than the 63 characters PostgreSQL keeps
        rollup.AddColumn<string>("grouping").AsPrimaryKey();
        rollup.AddColumn<Guid>("case_id").AsPrimaryKey();
        rollup.AddColumn<string>("key").AsPrimaryKey();
        rollup.AddColumn<string>("fund_currency").AsPrimaryKey();
        rollup.AddColumn<string>("paid_currency").AsPrimaryKey();
        foreach (var (column, _, isCount) in ClaimTotalsProjection.Figures)
            if (isCount) rollup.AddColumn<long>(column).NotNull();
            else rollup.AddColumn<decimal>(column).NotNull();

        // The same sums split by the UTC month of the change rows' business time (month_ns: its first nanosecond), for as-of reports:
        // the months before t's from here, t's own month from the change rows.
        Table Periodic(string name, string period)
        {
            var table = New(name);
            table.PrimaryKeyName = $"pkey_{name}";
            foreach (var column in new[] { "grouping", "case_id", "key", "fund_currency", "paid_currency" })
                if (column == "case_id") table.AddColumn<Guid>(column).AsPrimaryKey();
                else table.AddColumn<string>(column).AsPrimaryKey();
            table.AddColumn<long>(period).AsPrimaryKey();
            foreach (var (column, _, isCount) in ClaimTotalsProjection.Figures)
                if (isCount) table.AddColumn<long>(column).NotNull();
                else table.AddColumn<decimal>(column).NotNull();
            return table;
        }
        var monthly = Periodic(MonthlyTable, "month_ns");
        // And per UTC day (day_ns: its first nanosecond), so an as-of report reads at most one day of change rows, not a month's
        // (at a million events the benchmark's months held ~130,000 change rows each: 120-180 ms as of mid-month).
        var daily = Periodic(DailyTable, "day_ns");

        // One row (id 1), written by the first advance: no row means horizon 0 (nothing absorbed, the rollup empty).
        var checkpoint = New(CheckpointTable);
        checkpoint.AddColumn<int>("id").AsPrimaryKey();
        checkpoint.AddColumn("horizon", "xid8").NotNull();
        return [rollup, monthly, daily, checkpoint];
    }

    /// <summary>
    /// The first nanosecond of the UTC month of a change row's business time (<c>r.at_ns</c>), exactly: whole seconds first (a month
    /// starts on one), then PostgreSQL's calendar; clamped as <see cref="MonthStart"/> is.
    /// </summary>
    public const string MonthOfRow = "greatest(extract(epoch from date_trunc('month', to_timestamp(floor(r.at_ns / 1000000000.0)::double precision) at time zone 'UTC')) * 1000000000, -9223372036854775807)::bigint";

    /// <summary><see cref="MonthOfRow"/> over a day's first nanosecond (<c>d.day_ns</c>): the same month as every instant of that day.</summary>
    private static readonly string MonthOfDay = MonthOfRow.Replace("r.at_ns", "d.day_ns", StringComparison.Ordinal);

    /// <summary>The first nanosecond of the UTC day of a change row's business time (<c>r.at_ns</c>): Unix days are 86,400 s; clamped as the month.</summary>
    public const string DayOfRow = "greatest(floor(r.at_ns::numeric / 86400000000000) * 86400000000000, -9223372036854775807)::bigint";

    private const long NsPerDay = 86_400_000_000_000;

    /// <summary>The first nanosecond of the UTC day of <paramref name="ns"/>, as <see cref="DayOfRow"/> computes it in SQL.</summary>
    public static long DayStart(long ns) => (long)Math.Max(-9223372036854775807m, Math.Floor((decimal)ns / NsPerDay) * NsPerDay);

    /// <summary>The first nanosecond of the UTC month of <paramref name="ns"/>, as <see cref="MonthOfRow"/> computes it in SQL.</summary>
    public static long MonthStart(long ns)
    {
        var date = ReportTime.FromNs(ns).InUtc().Date;
        return ReportTime.Ns(new NodaTime.LocalDate(date.Year, date.Month, 1).AtStartOfDayInZone(NodaTime.DateTimeZone.Utc).ToInstant());
    }

    /// <summary>
    /// The xmax of the statement's snapshot in SQL (stable: evaluated once per statement): every row a statement of a transaction that
    /// wrote nothing can see has an xid below it (ids at or above xmax had not ended when the snapshot was taken).
    /// </summary>
    public const string SnapshotXmax = "pg_snapshot_xmax(pg_current_snapshot())";

    /// <summary>The horizon in SQL: the change rows at or above it are the tail.</summary>
    public static string Horizon(string schema) => $"coalesce((select c.horizon from {schema}.{CheckpointTable} c where c.id = 1), '0'::xid8)";

    /// <summary>Each change row (alias <c>r</c>) once per grouping, as <c>g(grouping, key)</c>.</summary>
    private static readonly string ByGrouping =
        $"cross join lateral (values {string.Join(", ", Groupings.Select(g => $"('{g.Name}', {g.Key})"))}) g(grouping, key)";

    /// <summary>
    /// The statement that fills the empty daily table from the change rows below the horizon <c>@from</c> (a backfill): per grouping,
    /// case, key, currencies and UTC day.
    /// </summary>
    private static string DailyBackfillSql(string schema)
    {
        var figures = ClaimTotalsProjection.Figures.Select(f => f.Column).ToList();
        string[] keys = ["grouping", "case_id", "key", "fund_currency", "paid_currency", "day_ns"];
        return $"""
                insert into {schema}.{DailyTable} ({string.Join(", ", keys)}, {string.Join(", ", figures)})
                select g.grouping, r.case_id, g.key, r.fund_currency, r.paid_currency, {DayOfRow}, {string.Join(", ", figures.Select(f => $"sum(r.{f})"))}
                from {schema}.{ClaimTotalsProjection.ChangesTable} r
                {ByGrouping}
                where r.{XidColumn} < @from::xid8
                group by {string.Join(", ", keys.Select((_, i) => i + 1))}
                """;
    }

    /// <summary>
    /// The statement an advance runs: the change rows with <c>@from &lt;= xid &lt; @to</c> summed once, per case, every key column, the
    /// currencies and UTC day (the rows of a million events fall into ~20,000 such groups), and the rollup, monthly and daily sums taken
    /// from those groups, in one statement. Summing the change rows three times, once per table and grouping, cost 11 s of PostgreSQL's
    /// CPU at a million events (a rebuild's advance) against about 2 s this way; an advance on the live path gains the same in
    /// proportion. Sums of <c>numeric</c> sums are exact and keep the largest scale, as one sum does. Returns the rows written.
    /// </summary>
    private static string AbsorbSql(string schema)
    {
        var figures = ClaimTotalsProjection.Figures.Select(f => f.Column).ToList();
        string Sum(string alias) => string.Join(", ", figures.Select(f => $"sum({alias}.{f}) as {f}"));
        string Add(params string[] keys) =>
            $"on conflict ({string.Join(", ", keys)}) do update set {string.Join(", ", figures.Select(f => $"{f} = t.{f} + excluded.{f}"))} returning 1";
        string[] keys = ["grouping", "case_id", "key", "fund_currency", "paid_currency"];
        string[] columns = ["case_id", "platform", "supplier_account", "buyer_country", "payment_month", "fund_currency", "paid_currency"];
        return $"""
                with r as materialized (
                    select {string.Join(", ", columns.Select(c => "r." + c))}, {DayOfRow} as day_ns, {Sum("r")}
                    from {schema}.{ClaimTotalsProjection.ChangesTable} r
                    where r.{XidColumn} >= @from::xid8 and r.{XidColumn} < @to::xid8
                    group by {string.Join(", ", Enumerable.Range(1, columns.Length + 1))}),
                d as materialized (
                    select g.grouping, r.case_id, g.key, r.fund_currency, r.paid_currency, r.day_ns, {Sum("r")}
                    from r {ByGrouping}
                    group by 1, 2, 3, 4, 5, 6),
                daily as (
                    insert into {schema}.{DailyTable} as t ({string.Join(", ", keys)}, day_ns, {string.Join(", ", figures)})
                    select {string.Join(", ", keys.Select(k => "d." + k))}, d.day_ns, {string.Join(", ", figures.Select(f => "d." + f))} from d
                    {Add([.. keys, "day_ns"])}),
                monthly as (
                    insert into {schema}.{MonthlyTable} as t ({string.Join(", ", keys)}, month_ns, {string.Join(", ", figures)})
                    select {string.Join(", ", keys.Select(k => "d." + k))}, {MonthOfDay}, {Sum("d")} from d group by 1, 2, 3, 4, 5, 6
                    {Add([.. keys, "month_ns"])}),
                rollup as (
                    insert into {schema}.{RollupTable} as t ({string.Join(", ", keys)}, {string.Join(", ", figures)})
                    select {string.Join(", ", keys.Select(k => "d." + k))}, {Sum("d")} from d group by 1, 2, 3, 4, 5
                    {Add(keys)})
                select (select count(*) from daily) + (select count(*) from monthly) + (select count(*) from rollup)
                """;
    }

    /// <summary>
    /// Daily sums missing beside a rollup that has absorbed rows: a database whose daily table Marten created empty (development,
    /// tests: schema built from the model, not by migration 0011, which backfills it) after the rollup had advanced. Fills them from
    /// the change rows below the horizon <paramref name="from"/>, as 0011 does, under the checkpoint's lock; otherwise as-of reports
    /// would miss the absorbed rows of the days of t's month. Two index probes when nothing is missing.
    /// </summary>
    private static async Task BackfillDailyAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string schema, ulong from, CancellationToken ct)
    {
        await using (var check = new NpgsqlCommand(
                         $"select exists (select 1 from {schema}.{RollupTable}) and not exists (select 1 from {schema}.{DailyTable})", connection, tx))
            if (!(bool)(await check.ExecuteScalarAsync(ct))!) return;
        await using var backfill = new NpgsqlCommand(DailyBackfillSql(schema), connection, tx);
        backfill.Parameters.AddWithValue("from", from.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await backfill.ExecuteNonQueryAsync(ct);
    }

    /// <summary>What an advance did: the horizon before and after (transaction ids), and the rollup rows it wrote.</summary>
    public sealed record Advance(ulong From, ulong To, int RollupRows);

    /// <summary>Folds the change rows committed since the checkpoint into the rollup of the store's schema, in a transaction of its own.</summary>
    public static async Task<Advance> AdvanceAsync(IDocumentStore store, CancellationToken ct)
    {
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var advance = await AdvanceAsync(connection, tx, store.Options.DatabaseSchemaName, ct);
        await tx.CommitAsync(ct);
        return advance;
    }

    /// <summary>
    /// Folds the change rows of <paramref name="schema"/> committed since its checkpoint into its rollup, in <paramref name="tx"/>
    /// (read committed), which the caller commits: what <see cref="ClaimTotalsRebuild"/> also does on the tables it builds.
    /// </summary>
    public static async Task<Advance> AdvanceAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string schema, CancellationToken ct)
    {
        var checkpoint = $"{schema}.{CheckpointTable}";
        ulong from, to;
        // The lock serialises advances; the xmin comes from this statement's snapshot, taken before any wait for the lock, so it can
        // only be lower than the horizon another advance just committed (then nothing is done), never too high.
        await using (var create = new NpgsqlCommand($"insert into {checkpoint} (id, horizon) values (1, '0') on conflict do nothing", connection, tx))
            await create.ExecuteNonQueryAsync(ct);
        await using (var read = new NpgsqlCommand(
            $"select horizon::text, pg_snapshot_xmin(pg_current_snapshot())::text from {checkpoint} where id = 1 for update", connection, tx))
        await using (var r = await read.ExecuteReaderAsync(ct))
        {
            await r.ReadAsync(ct);
            from = ulong.Parse(r.GetString(0), System.Globalization.CultureInfo.InvariantCulture);
            to = ulong.Parse(r.GetString(1), System.Globalization.CultureInfo.InvariantCulture);
        }
        await BackfillDailyAsync(connection, tx, schema, from, ct);
        if (to <= from) return new Advance(from, from, 0);

        NpgsqlBatchCommand Command(string sql) => new(sql)
        {
            Parameters =
            {
                new NpgsqlParameter("from", from.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new NpgsqlParameter("to", to.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            },
        };
        await using var absorb = new NpgsqlBatch(connection, tx)
        {
            // PostgreSQL's JIT compiles the statement's sixty-odd aggregates before running it once: at a million events (a rebuild's
            // advance) that compilation took 2.7 of its 4.5 s. For the rest of this transaction only.
            BatchCommands = { new NpgsqlBatchCommand("set local jit = off"), Command(AbsorbSql(schema)), Command($"update {checkpoint} set horizon = @to::xid8 where id = 1") },
        };
        long rows;
        await using (var r = await absorb.ExecuteReaderAsync(ct))
        {
            while (r.FieldCount == 0 && await r.NextResultAsync(ct)) { } // past the set: the absorb's one row
            await r.ReadAsync(ct);
            rows = r.GetInt64(0);
        }
        return new Advance(from, to, (int)rows); // rollup, monthly and daily rows
    }
}
