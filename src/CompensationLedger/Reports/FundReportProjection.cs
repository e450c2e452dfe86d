using CompensationLedger.Funds;
using JasperFx.Events;
using Marten;
using Marten.Events.Projections;
using NodaTime;
using Weasel.Postgresql;
using Weasel.Postgresql.Tables;

namespace CompensationLedger.Reports;

/// <summary>
/// The tables the fund reports answer from (fund statement, trial balance, payout register, reconciliation),
/// so that none of them replays a fund's stream or reads the <see cref="Fund"/> document (which holds every
/// entitlement and payout). Kept <b>inline</b>: a row changes in the transaction of the event that changes it,
/// so a money report is never behind the books, and asking "now" and asking "as of now" later agree.
/// <para>
/// Every row carries the business time of its event (<c>...At</c>, the clock the ledger's decisions use, as the
/// as-of reports always have) as nanoseconds since the Unix epoch (<c>*_ns</c>, compared exactly; PostgreSQL's
/// timestamptz keeps only microseconds, and two events in the same microsecond must still be told apart)
/// and, for people reading the tables, as timestamptz.
/// </para>
/// <list type="bullet">
/// <item><c>report_funds</c>, <c>report_pools</c>: names and currency, so a report need not load the fund.</item>
/// <item><c>report_postings</c>: what one event posted to one pool account (<see cref="Books.PostingsFor"/>, summed per
/// pool and account), with the account's running debit and credit totals in business-time order. A balance as of
/// any instant is one index lookup per pool and account, whatever the number of events.</item>
/// <item><c>report_payouts</c>: one row per payout with when it was issued, settled, returned.</item>
/// <item><c>report_statement_lines</c>: every imported bank statement line with what it matched.</item>
/// <item><c>report_payout_claims</c>: what each payout carries for each claim it pays, keyed by claim, so a buyer's status
/// lookup finds the payments of their claim (and this claim's part of a payout that pays several) without loading the fund.</item>
/// </list>
/// </summary>
public sealed partial class FundReportProjection : EventProjection
{
    public const string FundsTable = "report_funds";
    public const string PoolsTable = "report_pools";
    public const string PostingsTable = "report_postings";
    public const string PayoutsTable = "report_payouts";
    public const string StatementLinesTable = "report_statement_lines";
    public const string PayoutClaimsTable = "report_payout_claims";
    public static readonly IReadOnlyList<string> Tables = [FundsTable, PoolsTable, PostingsTable, PayoutsTable, StatementLinesTable, PayoutClaimsTable];

    private readonly string _schema;

    /// <summary>The name to rebuild it by: <c>rebuild FundReports</c>.</summary>
    public const string ProjectionName = "FundReports";

    public FundReportProjection(string schema)
    {
        Name = ProjectionName;
        _schema = schema;
        foreach (var table in Schema(schema))
        {
            SchemaObjects.Add(table);
            // A rebuild starts from empty tables, so nothing stale survives it.
            Options.DeleteDataInTableOnTeardown(table.Identifier.QualifiedName);
        }
    }

    public static IReadOnlyList<Table> Schema(string schema)
    {
        Table New(string name) => new(new PostgresqlObjectName(schema, name, SchemaUtils.IdentifierUsage.General));

        var funds = New(FundsTable);
        funds.AddColumn<Guid>("fund_id").AsPrimaryKey();
        funds.AddColumn<string>("name").NotNull();
        funds.AddColumn<string>("currency").NotNull();

        var pools = New(PoolsTable);
        pools.AddColumn<Guid>("fund_id").AsPrimaryKey();
        pools.AddColumn<Guid>("pool_id").AsPrimaryKey();
        pools.AddColumn<string>("name").NotNull();
        pools.AddColumn<long>("version").NotNull();
        pools.AddColumn<long>("opened_at_ns").NotNull();

        var postings = New(PostingsTable);
        postings.AddColumn<Guid>("fund_id").AsPrimaryKey();
        postings.AddColumn<Guid>("pool_id").AsPrimaryKey();
        postings.AddColumn<string>("account").AsPrimaryKey();
        postings.AddColumn<long>("occurred_at_ns").AsPrimaryKey();
        postings.AddColumn<long>("version").AsPrimaryKey();
        postings.AddColumn("occurred_at", "timestamp with time zone").NotNull();
        postings.AddColumn<Guid>("event_id").NotNull();
        postings.AddColumn<string>("event_type").NotNull();
        postings.AddColumn<string>("currency").NotNull();
        postings.AddColumn<decimal>("debit").NotNull();
        postings.AddColumn<decimal>("credit").NotNull();
        postings.AddColumn<decimal>("debit_total").NotNull();
        postings.AddColumn<decimal>("credit_total").NotNull();
        // The generated name (pkey_ + every column) is longer than PostgreSQL's 63 characters and would be truncated.
        postings.PrimaryKeyName = $"pkey_{PostingsTable}";

        var payouts = New(PayoutsTable);
        payouts.AddColumn<Guid>("payout_id").AsPrimaryKey();
        payouts.AddColumn<Guid>("fund_id").NotNull();
        payouts.AddColumn<string>("reference").NotNull();
        payouts.AddColumn<Guid>("round_id").NotNull();
        payouts.AddColumn<Guid>("claim_id"); // null when the payout pays several claims of one buyer
        payouts.AddColumn<string>("claim_reference").NotNull();
        payouts.AddColumn<decimal>("amount").NotNull();
        payouts.AddColumn<string>("currency").NotNull();
        payouts.AddColumn<long>("issued_at_ns").NotNull();
        payouts.AddColumn<long>("settled_at_ns");
        payouts.AddColumn<long>("returned_at_ns");
        // When it stopped being in transit (the first of settled and returned): in transit as of t = issued <= t < closed.
        payouts.AddColumn<long>("closed_at_ns");
        payouts.AddColumn<string>("return_reason");
        payouts.AddColumn<Guid>("reissue_of");
        payouts.Indexes.Add(new IndexDefinition($"ix_{PayoutsTable}_issued").AgainstColumns("issued_at_ns"));
        payouts.Indexes.Add(new IndexDefinition($"ix_{PayoutsTable}_fund_issued").AgainstColumns("fund_id", "issued_at_ns"));
        payouts.Indexes.Add(new IndexDefinition($"ix_{PayoutsTable}_fund_closed").AgainstColumns("fund_id", "closed_at_ns"));
        // "Was this payout sent again?" for a buyer's status lookup (a reissue names the payout it replaces).
        payouts.Indexes.Add(new IndexDefinition($"ix_{PayoutsTable}_reissue_of").AgainstColumns("reissue_of"));

        var lines = New(StatementLinesTable);
        lines.AddColumn<Guid>("fund_id").AsPrimaryKey();
        lines.AddColumn<string>("statement_id").AsPrimaryKey();
        lines.AddColumn<int>("line").AsPrimaryKey();
        lines.AddColumn<long>("imported_at_ns").NotNull();
        lines.AddColumn("date", "date").NotNull();
        lines.AddColumn<string>("reference").NotNull();
        lines.AddColumn<decimal>("amount").NotNull();
        lines.AddColumn<string>("currency").NotNull();
        lines.AddColumn<string>("direction").NotNull();
        lines.AddColumn<string>("match").NotNull();
        lines.AddColumn<Guid>("payout_id");
        lines.AddColumn<string>("detail").NotNull();
        lines.Indexes.Add(new IndexDefinition($"ix_{StatementLinesTable}_statement").AgainstColumns("statement_id"));

        var payoutClaims = New(PayoutClaimsTable);
        payoutClaims.AddColumn<Guid>("claim_id").AsPrimaryKey();
        payoutClaims.AddColumn<Guid>("payout_id").AsPrimaryKey();
        payoutClaims.AddColumn<Guid>("fund_id").NotNull();
        payoutClaims.AddColumn<decimal>("amount").NotNull();

        return [funds, pools, postings, payouts, lines, payoutClaims];
    }

    private string T(string table) => $"{_schema}.{table}";

    /// <summary>
    /// The claims a payout pays (one payout per buyer may pay several): the claim when there is one (else null), and
    /// the references in ordinal order separated by a space, as the payout register shows them.
    /// </summary>
    /// <summary>A claim id parameter, null in the table when the payout pays several claims (queued commands take no null parameters).</summary>
    private const string NoClaim = "nullif(?, '00000000-0000-0000-0000-000000000000'::uuid)";

    public static (Guid? ClaimId, string ClaimReferences) Claims(IReadOnlyList<PayoutLine> lines) =>
        (PayoutLines.OnlyClaim(lines), string.Join(' ', PayoutLines.References(lines)));

    public void Project(IEvent<FundEstablished> e, IDocumentOperations ops) =>
        ops.QueueSqlCommand($"insert into {T(FundsTable)} (fund_id, name, currency) values (?, ?, ?) on conflict do nothing", e.Data.FundId, e.Data.Name, e.Data.Currency);

    public void Project(IEvent<PoolOpened> e, IDocumentOperations ops) =>
        ops.QueueSqlCommand($"insert into {T(PoolsTable)} (fund_id, pool_id, name, version, opened_at_ns) values (?, ?, ?, ?, ?) on conflict do nothing",
            e.Data.FundId, e.Data.PoolId, e.Data.Name, e.Version, ReportTime.Ns(e.Data.OpenedAt));

    public void Project(IEvent<PoolDeposited> e, IDocumentOperations ops) => Post(e, ops);

    public void Project(IEvent<RoundPrepared> e, IDocumentOperations ops) => Post(e, ops);

    public void Project(IEvent<RoundCancelled> e, IDocumentOperations ops) => Post(e, ops);

    /// <summary>
    /// The round's payouts and what each carries per claim, in two statements whatever the number of payouts (a row per
    /// payout, a statement per row, was most of this projection's statements when a rebuild replays a large fund).
    /// </summary>
    public void Project(IEvent<RoundReleased> e, IDocumentOperations ops)
    {
        Post(e, ops);
        var payouts = e.Data.Payouts.Select(p => (Payout: p, Claims: Claims(PayoutLines.Of(p)))).ToArray();
        if (payouts.Length == 0) return;
        ops.QueueSqlCommand(
            $"""
             insert into {T(PayoutsTable)} (payout_id, fund_id, reference, round_id, claim_id, claim_reference, amount, currency, issued_at_ns)
             select p.payout_id, ?, p.reference, ?, nullif(p.claim_id, '00000000-0000-0000-0000-000000000000'::uuid), p.claim_reference, p.amount, p.currency, ?
             from unnest(?, ?, ?, ?, ?, ?) as p(payout_id, reference, claim_id, claim_reference, amount, currency)
             on conflict do nothing
             """,
            e.Data.FundId, e.Data.RoundId, ReportTime.Ns(e.Data.ReleasedAt),
            payouts.Select(p => p.Payout.PayoutId).ToArray(), payouts.Select(p => p.Payout.Reference).ToArray(),
            payouts.Select(p => p.Claims.ClaimId ?? Guid.Empty).ToArray(), payouts.Select(p => p.Claims.ClaimReferences).ToArray(),
            payouts.Select(p => p.Payout.Amount.Amount).ToArray(), payouts.Select(p => p.Payout.Amount.Currency).ToArray());
        PayoutClaims(ops, e.Data.FundId, payouts.Select(p => (p.Payout.PayoutId, PayoutLines.Of(p.Payout))));
    }

    /// <summary>What each payout carries per claim (the sum of its lines for the claim), one statement for all of them.</summary>
    private void PayoutClaims(IDocumentOperations ops, Guid fundId, IEnumerable<(Guid PayoutId, IReadOnlyList<PayoutLine> Lines)> payouts)
    {
        var perClaim = payouts
            .SelectMany(p => p.Lines.GroupBy(l => l.ClaimId).Select(g => (ClaimId: g.Key, p.PayoutId, Amount: g.Sum(l => l.Amount.Amount))))
            .ToArray();
        if (perClaim.Length == 0) return;
        ops.QueueSqlCommand(
            $"insert into {T(PayoutClaimsTable)} (claim_id, payout_id, fund_id, amount) select c.claim_id, c.payout_id, ?, c.amount from unnest(?, ?, ?) as c(claim_id, payout_id, amount) on conflict do nothing",
            fundId, perClaim.Select(c => c.ClaimId).ToArray(), perClaim.Select(c => c.PayoutId).ToArray(), perClaim.Select(c => c.Amount).ToArray());
    }

    public void Project(IEvent<PayoutSettled> e, IDocumentOperations ops)
    {
        Post(e, ops);
        var at = ReportTime.Ns(e.Data.SettledAt);
        ops.QueueSqlCommand($"update {T(PayoutsTable)} set settled_at_ns = ?, closed_at_ns = coalesce(closed_at_ns, ?) where payout_id = ?", at, at, e.Data.PayoutId);
    }

    public void Project(IEvent<PayoutReturned> e, IDocumentOperations ops)
    {
        Post(e, ops);
        var at = ReportTime.Ns(e.Data.ReturnedAt);
        ops.QueueSqlCommand($"update {T(PayoutsTable)} set returned_at_ns = ?, return_reason = ?, closed_at_ns = coalesce(closed_at_ns, ?) where payout_id = ?",
            at, e.Data.Reason, at, e.Data.PayoutId);
    }

    public void Project(IEvent<PayoutReissued> e, IDocumentOperations ops)
    {
        Post(e, ops);
        var r = e.Data;
        var (claimId, claimReferences) = Claims(PayoutLines.Of(r));
        ops.QueueSqlCommand(
            $"""
             insert into {T(PayoutsTable)} (payout_id, fund_id, reference, round_id, claim_id, claim_reference, amount, currency, issued_at_ns, reissue_of)
             select ?, ?, ?, original.round_id, {NoClaim}, ?, ?, ?, ?, original.payout_id from {T(PayoutsTable)} original where original.payout_id = ?
             on conflict do nothing
             """,
            r.PayoutId, r.FundId, r.Reference, claimId ?? Guid.Empty, claimReferences, r.Amount.Amount, r.Amount.Currency, ReportTime.Ns(r.ReissuedAt), r.OriginalPayoutId);
        PayoutClaims(ops, r.FundId, [(r.PayoutId, PayoutLines.Of(r))]);
    }

    /// <summary>Every line of the statement in one statement (one per line was thousands per imported statement).</summary>
    public void Project(IEvent<BankStatementImported> e, IDocumentOperations ops)
    {
        var s = e.Data;
        if (s.Lines.Count == 0) return;
        ops.QueueSqlCommand(
            $"""
             insert into {T(StatementLinesTable)} (fund_id, statement_id, line, imported_at_ns, date, reference, amount, currency, direction, match, detail, payout_id)
             select ?, ?, l.line, ?, l.date, l.reference, l.amount, l.currency, l.direction, l.match, l.detail, nullif(l.payout_id, '00000000-0000-0000-0000-000000000000'::uuid)
             from unnest(?, ?, ?, ?, ?, ?, ?, ?, ?) as l(line, date, reference, amount, currency, direction, match, detail, payout_id)
             on conflict do nothing
             """,
            s.FundId, s.StatementId, ReportTime.Ns(s.ImportedAt),
            s.Lines.Select(l => l.Line.Line).ToArray(), s.Lines.Select(l => l.Line.Date).ToArray(), s.Lines.Select(l => l.Line.Reference).ToArray(),
            s.Lines.Select(l => l.Line.Amount.Amount).ToArray(), s.Lines.Select(l => l.Line.Amount.Currency).ToArray(),
            s.Lines.Select(l => l.Line.Direction.ToString()).ToArray(), s.Lines.Select(l => l.Match.ToString()).ToArray(),
            s.Lines.Select(l => l.Detail).ToArray(), s.Lines.Select(l => l.PayoutId ?? Guid.Empty).ToArray());
    }

    /// <summary>
    /// Writes what the event posts (<see cref="Books.PostingsFor"/>, the books' own function, so these rows never disagree
    /// with the books), one row per pool and account, with the account's running totals in business-time order: the
    /// totals of the row before it plus its own. Business time normally only grows along the stream, so the update
    /// finds no later rows; if an event ever carries an earlier time than events already posted (a clock set
    /// back), the rows after it in business time take its amounts too, and every as-of answer stays right.
    /// An event already posted (its row exists) posts nothing again: every write of this projection is idempotent, so an
    /// event applied twice (live, and by a rebuild running meanwhile) counts once, and rows written before earlier ones
    /// still end with the right totals.
    /// </summary>
    private void Post<TEvent>(IEvent<TEvent> e, IDocumentOperations ops) where TEvent : notnull
    {
        var at = Fund.OccurredAt(e.Data);
        var ns = ReportTime.Ns(at);
        var fundId = e.StreamId;
        foreach (var posting in Books.PostingsFor(e.Data).GroupBy(p => (p.PoolId, p.Account)))
        {
            var debit = posting.Sum(p => p.Debit.Amount);
            var credit = posting.Sum(p => p.Credit.Amount);
            var currency = posting.First().Debit.Currency;
            ops.QueueSqlCommand(
                $"""
                 with posted as (
                     insert into {T(PostingsTable)} (fund_id, pool_id, account, occurred_at_ns, version, occurred_at, event_id, event_type, currency, debit, credit, debit_total, credit_total)
                     select ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, coalesce(before.debit_total, 0) + ?, coalesce(before.credit_total, 0) + ?
                     from (select 1) as one left join lateral (
                         select p.debit_total, p.credit_total from {T(PostingsTable)} p
                         where p.fund_id = ? and p.pool_id = ? and p.account = ? and (p.occurred_at_ns, p.version) < (?, ?)
                         order by p.occurred_at_ns desc, p.version desc limit 1) as before on true
                     on conflict do nothing
                     returning 1)
                 update {T(PostingsTable)} set debit_total = debit_total + ?, credit_total = credit_total + ?
                 where exists (select 1 from posted) and fund_id = ? and pool_id = ? and account = ? and (occurred_at_ns, version) > (?, ?)
                 """,
                fundId, posting.Key.PoolId, posting.Key.Account, ns, e.Version, at, e.Id, e.EventTypeName, currency, debit, credit, debit, credit,
                fundId, posting.Key.PoolId, posting.Key.Account, ns, e.Version,
                debit, credit, fundId, posting.Key.PoolId, posting.Key.Account, ns, e.Version);
        }
    }
}

/// <summary>Business time as the report tables keep it: nanoseconds since the Unix epoch, exact.</summary>
public static class ReportTime
{
    // Instants a long of nanoseconds can hold (1677-09-21 .. 2262-04-11); a query bound outside them means "no bound".
    private static readonly Instant Min = NodaConstants.UnixEpoch + Duration.FromNanoseconds(long.MinValue + 1);
    private static readonly Instant Max = NodaConstants.UnixEpoch + Duration.FromNanoseconds(long.MaxValue - 1);

    public static long Ns(Instant at) =>
        at <= Min ? long.MinValue + 1 : at >= Max ? long.MaxValue - 1 : (at - NodaConstants.UnixEpoch).ToInt64Nanoseconds();

    public static Instant FromNs(long ns) => NodaConstants.UnixEpoch + Duration.FromNanoseconds(ns);

    /// <summary>The exclusive upper bound that keeps everything at or before <paramref name="asOf"/> (everything when null).</summary>
    public static long UpTo(Instant? asOf) => asOf is { } at ? Ns(at) + 1 : long.MaxValue;
}

/// <summary>Reads the report tables with plain SQL (aggregates and lateral lookups LINQ cannot express).</summary>
public static class ReportSql
{
    public static async Task<List<T>> ReadAsync<T>(IQuerySession session, string sql, Func<Npgsql.NpgsqlDataReader, T> row, CancellationToken ct,
        params (string Name, object Value)[] parameters)
    {
        await using var connection = (Npgsql.NpgsqlConnection)session.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var rows = new List<T>();
        while (await reader.ReadAsync(ct)) rows.Add(row(reader));
        return rows;
    }

    /// <summary>The fund's name and currency, or null for an unknown fund.</summary>
    public static async Task<(string Name, string Currency)?> FundAsync(IQuerySession session, Guid fundId, CancellationToken ct)
    {
        var rows = await ReadAsync(session, $"select name, currency from {session.DocumentStore.Options.DatabaseSchemaName}.{FundReportProjection.FundsTable} where fund_id = @fund",
            r => (r.GetString(0), r.GetString(1)), ct, ("fund", fundId));
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>One account of one pool: its running debit and credit totals at two bounds (exclusive), in pool order.</summary>
    public sealed record AccountTotals(Guid PoolId, string Pool, string Account, decimal DebitsBefore, decimal CreditsBefore, decimal Debits, decimal Credits)
    {
        public decimal Debit(bool atEnd) => atEnd ? Debits : DebitsBefore;

        public decimal Credit(bool atEnd) => atEnd ? Credits : CreditsBefore;

        /// <summary>Debit minus credit.</summary>
        public decimal Balance(bool atEnd) => Debit(atEnd) - Credit(atEnd);
    }

    /// <summary>
    /// Every pool opened before <paramref name="end"/> with every account's totals of the postings before <paramref name="start"/>
    /// and before <paramref name="end"/> (business time, ns): two index lookups per pool and account, whatever the number of events.
    /// </summary>
    public static Task<List<AccountTotals>> AccountTotalsAsync(IQuerySession session, Guid fundId, long start, long end, CancellationToken ct)
    {
        var schema = session.DocumentStore.Options.DatabaseSchemaName;
        string Latest(string bound) =>
            $"""
             select t.debit_total, t.credit_total from {schema}.{FundReportProjection.PostingsTable} t
             where t.fund_id = p.fund_id and t.pool_id = p.pool_id and t.account = a.account and t.occurred_at_ns < {bound}
             order by t.occurred_at_ns desc, t.version desc limit 1
             """;
        var sql = $"""
                   select p.pool_id, p.name, a.account, coalesce(s.debit_total, 0), coalesce(s.credit_total, 0), coalesce(e.debit_total, 0), coalesce(e.credit_total, 0)
                   from {schema}.{FundReportProjection.PoolsTable} p
                   cross join unnest(@accounts) with ordinality as a(account, n)
                   left join lateral ({Latest("@start")}) as s on true
                   left join lateral ({Latest("@end")}) as e on true
                   where p.fund_id = @fund and p.opened_at_ns < @end
                   order by p.version, a.n
                   """;
        return ReadAsync(session, sql, r => new AccountTotals(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetDecimal(3), r.GetDecimal(4), r.GetDecimal(5), r.GetDecimal(6)),
            ct, ("fund", fundId), ("accounts", Funds.Books.Accounts.ToArray()), ("start", Math.Min(start, end)), ("end", end));
    }
}
