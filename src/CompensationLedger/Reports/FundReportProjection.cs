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
/// <item><c>fund_entitlements</c>: what the fund owes each claim and how much of it is allocated, in transit and settled, exactly as
/// <see cref="FundFold"/> keeps <see cref="Fund.Entitlements"/>, so the money decisions and views can read the entitlements they need
/// (<see cref="EntitlementRows"/>) instead of the fund's snapshot holding every one of them.</item>
/// </list>
/// </summary>
public sealed partial class FundReportProjection : EventProjection, JasperFx.Events.Projections.IInlineProjection<IDocumentOperations>
{
    public const string FundsTable = "report_funds";
    public const string PoolsTable = "report_pools";
    public const string PostingsTable = "report_postings";
    public const string PayoutsTable = "report_payouts";
    public const string StatementLinesTable = "report_statement_lines";
    public const string PayoutClaimsTable = "report_payout_claims";
    /// <summary>The payout register's totals per fund, currency and issue day (UTC): <see cref="PayoutDaysSql"/>.</summary>
    public const string PayoutDaysTable = "report_payout_days";
    /// <summary>What the fund owes each claim and how much of it is committed, as <see cref="FundFold"/> makes it: <see cref="EntitlementRow"/>.</summary>
    public const string EntitlementsTable = "fund_entitlements";
    /// <summary>
    /// Every table, in the order a transaction first writes them (the rebuild's swap locks them in this order, so a writer holding one
    /// and waiting for a later one cannot deadlock with it): the entitlements after the payouts and their claims of a release, the day
    /// totals last (recomputed at the end of the transaction).
    /// </summary>
    public static readonly IReadOnlyList<string> Tables =
        [FundsTable, PoolsTable, PostingsTable, PayoutsTable, StatementLinesTable, PayoutClaimsTable, EntitlementsTable, PayoutDaysTable];

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
        // The payout as the payout views show it (PayoutRow): as issued, and what happened to it since. Null on rows written before
        // these columns (a database upgraded without migrations/0013, which fills them): the views then read the fund's document.
        payouts.AddColumn("issued", "jsonb");
        payouts.AddColumn<string>("status");
        payouts.AddColumn<Guid>("reissued_as");
        payouts.AddColumn("pending_reissue", "jsonb");
        payouts.Indexes.Add(new IndexDefinition($"ix_{PayoutsTable}_issued").AgainstColumns("issued_at_ns"));
        payouts.Indexes.Add(new IndexDefinition($"ix_{PayoutsTable}_fund_issued").AgainstColumns("fund_id", "issued_at_ns"));
        payouts.Indexes.Add(new IndexDefinition($"ix_{PayoutsTable}_fund_closed").AgainstColumns("fund_id", "closed_at_ns"));
        // "Was this payout sent again?" for a buyer's status lookup (a reissue names the payout it replaces).
        payouts.Indexes.Add(new IndexDefinition($"ix_{PayoutsTable}_reissue_of").AgainstColumns("reissue_of"));
        // The payout list, in reference order (ordinal, as it always was), a page at a time.
        payouts.Indexes.Add(new IndexDefinition($"ix_{PayoutsTable}_reference") { Collation = "C" }.AgainstColumns("reference"));
        // A round's payouts for its view: the fund's snapshot no longer lists them (Round.PayoutIds).
        payouts.Indexes.Add(new IndexDefinition($"ix_{PayoutsTable}_round").AgainstColumns("round_id"));

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

        // The payout register's totals "now" per fund, currency and issue day: the day's payouts in transit, settled and returned, as
        // the register's lines say (returned first, then settled). Each status has its own sum, so a total keeps the scale a sum of
        // the rows would have. Recomputed from the day's payout rows whenever one of them is written (PayoutDaysSql).
        var days = New(PayoutDaysTable);
        days.AddColumn<Guid>("fund_id").AsPrimaryKey();
        days.AddColumn<string>("currency").AsPrimaryKey();
        days.AddColumn<int>("day").AsPrimaryKey();
        days.AddColumn<int>("in_transit_count").NotNull();
        days.AddColumn<decimal>("in_transit_amount").NotNull();
        days.AddColumn<int>("settled_count").NotNull();
        days.AddColumn<decimal>("settled_amount").NotNull();
        days.AddColumn<int>("returned_count").NotNull();
        days.AddColumn<decimal>("returned_amount").NotNull();

        // One row per entitlement (EntitlementRow): what FundFold keeps in Fund.Entitlements, out of the fund's snapshot, so a decision
        // or a view reads the entitlements it needs instead of loading and rewriting all of them (49 MB at 47,000 claims, issue #7).
        // The primary key serves a fund's entitlements (its prefix) and those of given claims; "every entitlement of these claims'
        // buyers" needs the buyer key's index. No other index: a round or a bank statement updates thousands of rows per statement, and
        // the amounts it changes are in no index, so PostgreSQL can update them in place (HOT) without touching the indexes at all.
        var entitlements = New(EntitlementsTable);
        entitlements.AddColumn<Guid>("fund_id").AsPrimaryKey();
        entitlements.AddColumn<Guid>("claim_id").AsPrimaryKey();
        entitlements.AddColumn("claim_reference", "text").NotNull();
        entitlements.AddColumn<Guid>("case_id").NotNull();
        entitlements.AddColumn("platform", "text").NotNull();
        entitlements.AddColumn("supplier_account_id", "text").NotNull();
        entitlements.AddColumn("buyer_country", "text").NotNull();
        entitlements.AddColumn<decimal>("amount").NotNull();
        entitlements.AddColumn<decimal>("allocated").NotNull();
        entitlements.AddColumn<decimal>("in_transit").NotNull();
        entitlements.AddColumn<decimal>("settled").NotNull();
        entitlements.AddColumn("buyer_key", "text"); // null: recorded before buyers were known to the fund (the claim is its own buyer)
        // The stream version of the last event applied to the row (at least: rows filled from a snapshot carry the snapshot's version).
        // The amounts are changed by adding to them, which is not idempotent by itself: an event is applied only to rows older than it,
        // so one applied twice (Marten's daemon replaying the projection while the service writes) counts once, as every write here does.
        entitlements.AddColumn<long>("version").NotNull();
        entitlements.Indexes.Add(new IndexDefinition($"ix_{EntitlementsTable}_buyer").AgainstColumns("fund_id", "buyer_key"));

        return [funds, pools, postings, payouts, lines, payoutClaims, entitlements, days];
    }

    /// <summary>Nanoseconds of a UTC day: a payout's issue day is <c>floor(issued_at_ns / DayNs)</c>.</summary>
    public const long DayNs = 86_400_000_000_000L;

    /// <summary>The UTC day number of an instant in nanoseconds, in SQL (floor, so instants before 1970 fall in the right day).</summary>
    public static string DayOf(string ns) => $"floor({ns}::numeric / {DayNs})::int";

    /// <summary>The UTC day number of an instant in nanoseconds, as <see cref="DayOf"/> computes it in SQL.</summary>
    public static long DayNumber(long ns) => ns / DayNs - (ns % DayNs < 0 ? 1 : 0);

    /// <summary>
    /// Recomputes the register's day totals (<see cref="PayoutDaysTable"/>) of the fund days the payouts in <paramref name="payoutIds"/>
    /// were issued on, from every payout row of those days; <paramref name="payoutIds"/> is a parameter placeholder (an array of ids),
    /// or null for every day of every fund (the rebuild, the migration). Runs after the payouts' own rows are written.
    /// </summary>
    public static string PayoutDaysSql(string schema, string? payoutIds)
    {
        var payouts = $"{schema}.{PayoutsTable}";
        // Every day: each payout row once. Some days: every row of the fund days the given payouts were issued on.
        var (rows, day) = payoutIds is null
            ? ($"{payouts} p", DayOf("p.issued_at_ns"))
            : ($"""
                (select distinct fund_id, {DayOf("issued_at_ns")} as day from {payouts} where payout_id = any({payoutIds})) t
                join {payouts} p on p.fund_id = t.fund_id and p.issued_at_ns >= t.day::bigint * {DayNs} and p.issued_at_ns < (t.day::bigint + 1) * {DayNs}
                """, "t.day");
        const string inTransit = "p.returned_at_ns is null and p.settled_at_ns is null";
        const string settled = "p.returned_at_ns is null and p.settled_at_ns is not null";
        const string returned = "p.returned_at_ns is not null";
        return $"""
                insert into {schema}.{PayoutDaysTable} (fund_id, currency, day, in_transit_count, in_transit_amount, settled_count, settled_amount, returned_count, returned_amount)
                select p.fund_id, p.currency, {day},
                       (count(*) filter (where {inTransit}))::int, coalesce(sum(p.amount) filter (where {inTransit}), 0),
                       (count(*) filter (where {settled}))::int, coalesce(sum(p.amount) filter (where {settled}), 0),
                       (count(*) filter (where {returned}))::int, coalesce(sum(p.amount) filter (where {returned}), 0)
                from {rows}
                group by 1, 2, 3
                on conflict (fund_id, currency, day) do update set in_transit_count = excluded.in_transit_count, in_transit_amount = excluded.in_transit_amount,
                    settled_count = excluded.settled_count, settled_amount = excluded.settled_amount,
                    returned_count = excluded.returned_count, returned_amount = excluded.returned_amount
                """;
    }

    private string? _payoutDaysSql;

    /// <summary>The register's day totals of these payouts' issue days, recomputed after their rows (queued last: <see cref="PayoutDaysSql"/>).</summary>
    private void PayoutDays(IDocumentOperations ops, Guid[] payoutIds)
    {
        if (_pendingDays.TryGetValue(ops, out var pending))
        {
            pending.UnionWith(payoutIds); // recomputed once at the end of the transaction's ApplyAsync
            return;
        }
        if (payoutIds.Length == 0) return;
        ops.QueueSqlCommand(_payoutDaysSql ??= PayoutDaysSql(_schema, "?"), payoutIds);
    }

    private string T(string table) => $"{_schema}.{table}";

    // Statements queued once per payout event, built once per projection (see PostSql).
    private string? _settledSql, _returnedSql;

    // The rows, one definition each: the projection writes them with SQL (idempotent, in any order), FundReportsRebuild folds
    // the events into the same rows in memory and copies them.

    /// <summary>A row of <c>report_funds</c>.</summary>
    public sealed record FundRow(Guid FundId, string Name, string Currency)
    {
        public static FundRow Of(FundEstablished e) => new(e.FundId, e.Name, e.Currency);
    }

    /// <summary>A row of <c>report_pools</c>; <paramref name="Version"/> is the stream version of its opening (pools in opening order).</summary>
    public sealed record PoolRow(Guid FundId, Guid PoolId, string Name, long Version, long OpenedAtNs)
    {
        public static PoolRow Of(PoolOpened e, long version) => new(e.FundId, e.PoolId, e.Name, version, ReportTime.Ns(e.OpenedAt));
    }

    /// <summary>What one event posts to one pool account: <see cref="Books.PostingsFor"/> summed per pool and account, in order of first posting.</summary>
    public sealed record Posted(Guid PoolId, string Account, string Currency, decimal Debit, decimal Credit)
    {
        public static IReadOnlyList<Posted> By(object e) =>
        [
            .. Books.PostingsFor(e).GroupBy(p => (p.PoolId, p.Account))
                .Select(g => new Posted(g.Key.PoolId, g.Key.Account, g.First().Debit.Currency, g.Sum(p => p.Debit.Amount), g.Sum(p => p.Credit.Amount))),
        ];
    }

    /// <summary>
    /// A row of <c>report_payouts</c>. Closed is when it stopped being in transit, the first of settled and returned (in
    /// transit as of t = issued &lt;= t &lt; closed); a later settlement or return moves its own column only.
    /// <para>
    /// It also holds the payout as <c>GET /api/payouts/{id}</c> and the payout list show it, so they never load the fund's document
    /// (which holds every payout: 49 MB and ~1.8 s to read at 47,000 claims, issue #7): <paramref name="Issued"/> is the payout as
    /// issued (<see cref="Payout.Issued(RoundReleased, PayoutIssued)"/>, JSON as the fund's snapshot stores it), and what the events
    /// after its issue change (<paramref name="Status"/>, settled, returned, <paramref name="ReissuedAs"/>, <paramref name="PendingReissue"/>)
    /// has a column each; <see cref="Payout"/> is the two together (<see cref="PayoutViews"/>), as the fund's fold makes it.
    /// </para>
    /// </summary>
    public sealed record PayoutRow(Guid PayoutId, Guid FundId, string Reference, Guid RoundId, Guid? ClaimId, string ClaimReference, decimal Amount, string Currency,
        long IssuedAtNs, string Issued, long? SettledAtNs = null, long? ReturnedAtNs = null, long? ClosedAtNs = null, string? ReturnReason = null, Guid? ReissueOf = null,
        PayoutStatus Status = PayoutStatus.InTransit, Guid? ReissuedAs = null, string? PendingReissue = null)
    {
        public static IReadOnlyList<PayoutRow> IssuedBy(RoundReleased e, Marten.ISerializer json) =>
        [
            .. e.Payouts.Select(p =>
            {
                var (claimId, claimReferences) = Claims(PayoutLines.Of(p));
                return new PayoutRow(p.PayoutId, e.FundId, p.Reference, e.RoundId, claimId, claimReferences, p.Amount.Amount, p.Amount.Currency, ReportTime.Ns(e.ReleasedAt),
                    json.ToJson(Payout.Issued(e, p)));
            }),
        ];

        /// <summary>The new payout of a reissue, in the round of <paramref name="originalRoundId"/> (written only when the original is known).</summary>
        public static PayoutRow ReissuedBy(PayoutReissued r, Guid originalRoundId, Marten.ISerializer json)
        {
            var (claimId, claimReferences) = Claims(PayoutLines.Of(r));
            return new PayoutRow(r.PayoutId, r.FundId, r.Reference, originalRoundId, claimId, claimReferences, r.Amount.Amount, r.Amount.Currency, ReportTime.Ns(r.ReissuedAt),
                json.ToJson(Payout.Issued(r, originalRoundId)), ReissueOf: r.OriginalPayoutId);
        }

        public PayoutRow Settled(PayoutSettled e)
        {
            var at = ReportTime.Ns(e.SettledAt);
            return this with { SettledAtNs = at, ClosedAtNs = ClosedAtNs ?? at, Status = PayoutStatus.Settled };
        }

        public PayoutRow Returned(PayoutReturned e)
        {
            var at = ReportTime.Ns(e.ReturnedAt);
            return this with { ReturnedAtNs = at, ReturnReason = e.Reason, ClosedAtNs = ClosedAtNs ?? at, Status = PayoutStatus.Returned };
        }

        public PayoutRow ReissuePrepared(PayoutReissuePrepared e, Marten.ISerializer json) => this with { PendingReissue = PendingJson(e, json) };

        public PayoutRow ReissueWithdrawn() => this with { PendingReissue = null };

        /// <summary>The original of a reissue: sent again as <paramref name="r"/>'s payout, nothing pending any more.</summary>
        public PayoutRow ReplacedBy(PayoutReissued r) => this with { ReissuedAs = r.PayoutId, PendingReissue = null };

        public static string PendingJson(PayoutReissuePrepared e, Marten.ISerializer json) => json.ToJson(new PendingReissue(e.BankDetails, e.PreparedBy, e.PreparedAt));
    }

    /// <summary>A row of <c>report_payout_claims</c>: what a payout carries for one claim (the sum of its lines for the claim).</summary>
    public sealed record PayoutClaimRow(Guid ClaimId, Guid PayoutId, Guid FundId, decimal Amount)
    {
        public static IEnumerable<PayoutClaimRow> Of(Guid fundId, Guid payoutId, IReadOnlyList<PayoutLine> lines) =>
            lines.GroupBy(l => l.ClaimId).Select(g => new PayoutClaimRow(g.Key, payoutId, fundId, g.Sum(l => l.Amount.Amount)));

        public static IReadOnlyList<PayoutClaimRow> IssuedBy(RoundReleased e) => [.. e.Payouts.SelectMany(p => Of(e.FundId, p.PayoutId, PayoutLines.Of(p)))];

        public static IReadOnlyList<PayoutClaimRow> ReissuedBy(PayoutReissued r) => [.. Of(r.FundId, r.PayoutId, PayoutLines.Of(r))];
    }

    /// <summary>
    /// A row of <c>fund_entitlements</c>: one <see cref="Entitlement"/> of the fund as <see cref="FundFold"/> makes it (<see cref="ToEntitlement"/>),
    /// and the stream version of the last event applied to it (<see cref="Version"/>: an event is applied to older rows only).
    /// </summary>
    public sealed record EntitlementRow(Guid FundId, Guid ClaimId, string ClaimReference, Guid CaseId, string Platform, string SupplierAccountId, string BuyerCountry,
        decimal Amount, decimal Allocated, decimal InTransit, decimal Settled, string? BuyerKey, long Version)
    {
        /// <summary>A claim's first entitlement in the fund: nothing committed to it yet.</summary>
        public static EntitlementRow Recorded(Guid fundId, EntitlementRecorded e, long version) =>
            new(fundId, e.ClaimId, e.ClaimReference, e.CaseId, e.Platform, e.SupplierAccountId, e.BuyerCountry, e.Amount.Amount, 0m, 0m, 0m, e.BuyerKey, version);

        /// <summary>A later decision on the same claim (an appeal): it changes what the claim is owed, not what is committed to it; a buyer key once known stays.</summary>
        public EntitlementRow RecordedAgain(EntitlementRecorded e, long version) => this with { Amount = e.Amount.Amount, BuyerKey = BuyerKey ?? e.BuyerKey, Version = version };

        public EntitlementRow Moved(EntitlementChange change, long version) => this with
        {
            Allocated = Allocated + change.Allocated, InTransit = InTransit + change.InTransit, Settled = Settled + change.Settled, Version = version,
        };

        public Entitlement ToEntitlement() => new(ClaimId, ClaimReference, CaseId, Platform, SupplierAccountId, BuyerCountry, Amount, Allocated, InTransit, Settled, BuyerKey);
    }

    /// <summary>
    /// What one event adds to one claim's committed amounts, as <see cref="FundFold"/>'s cases do, its lines for the claim summed first (a
    /// payout pays a claim from several pools, a round allocates it from several): the sum is exact, so adding it once is adding each line.
    /// </summary>
    public readonly record struct EntitlementChange(Guid ClaimId, decimal Allocated, decimal InTransit, decimal Settled)
    {
        /// <summary>Per claim, in order of first appearance; none for an event that commits nothing.</summary>
        public static IReadOnlyList<EntitlementChange> By(object e) => e switch
        {
            RoundPrepared x => PerClaim(x.Allocations.Select(a => new EntitlementChange(a.ClaimId, a.Amount.Amount, 0m, 0m))),
            RoundCancelled x => PerClaim(x.Allocations.Select(a => new EntitlementChange(a.ClaimId, -a.Amount.Amount, 0m, 0m))),
            // Each payout's claim lines (PayoutLines.Of reads both shapes of the events): set aside until now, on their way from now.
            RoundReleased x => PerClaim(x.Payouts.SelectMany(PayoutLines.Of).Select(l => new EntitlementChange(l.ClaimId, -l.Amount.Amount, l.Amount.Amount, 0m))),
            PayoutSettled x => PerClaim(PayoutLines.Of(x).Select(l => new EntitlementChange(l.ClaimId, 0m, -l.Amount.Amount, l.Amount.Amount))),
            // Owed again: what was in transit is neither allocated nor paid.
            PayoutReturned x => PerClaim(PayoutLines.Of(x).Select(l => new EntitlementChange(l.ClaimId, 0m, -l.Amount.Amount, 0m))),
            PayoutReissued x => PerClaim(PayoutLines.Of(x).Select(l => new EntitlementChange(l.ClaimId, 0m, l.Amount.Amount, 0m))),
            _ => [],
        };

        // Without LINQ's grouping: the rebuild sums the lines of every event of a million, most of them one or two lines long.
        private static IReadOnlyList<EntitlementChange> PerClaim(IEnumerable<EntitlementChange> lines)
        {
            var sums = new List<EntitlementChange>();
            Dictionary<Guid, int>? at = null; // where each claim's sum is, once a linear search would be slow
            foreach (var c in lines)
            {
                var i = at is not null ? at.GetValueOrDefault(c.ClaimId, -1) : sums.FindIndex(s => s.ClaimId == c.ClaimId);
                if (i >= 0)
                {
                    var s = sums[i];
                    sums[i] = s with { Allocated = s.Allocated + c.Allocated, InTransit = s.InTransit + c.InTransit, Settled = s.Settled + c.Settled };
                    continue;
                }
                sums.Add(c);
                if (at is not null) at[c.ClaimId] = sums.Count - 1;
                else if (sums.Count > 16) at = sums.Select((s, n) => (s.ClaimId, n)).ToDictionary(p => p.ClaimId, p => p.n);
            }
            return sums;
        }
    }

    /// <summary>A row of <c>report_statement_lines</c>: an imported bank statement line and what it matched.</summary>
    public sealed record StatementLineRow(Guid FundId, string StatementId, int Line, long ImportedAtNs, LocalDate Date, string Reference, decimal Amount, string Currency,
        string Direction, string Match, Guid? PayoutId, string Detail)
    {
        public static IReadOnlyList<StatementLineRow> Of(BankStatementImported s) =>
        [
            .. s.Lines.Select(l => new StatementLineRow(s.FundId, s.StatementId, l.Line.Line, ReportTime.Ns(s.ImportedAt), l.Line.Date, l.Line.Reference,
                l.Line.Amount.Amount, l.Line.Amount.Currency, l.Line.Direction.ToString(), l.Match.ToString(), l.PayoutId, l.Detail)),
        ];
    }

    /// <summary>
    /// The claims a payout pays (one payout per buyer may pay several): the claim when there is one (else null), and
    /// the references in ordinal order separated by a space, as the payout register shows them.
    /// </summary>
    public static (Guid? ClaimId, string ClaimReferences) Claims(IReadOnlyList<PayoutLine> lines) =>
        (PayoutLines.OnlyClaim(lines), string.Join(' ', PayoutLines.References(lines)));

    /// <summary>A nullable id as a queued command's parameter (they take no null): the empty id, turned back into null by <see cref="NullId"/>.</summary>
    private static Guid Param(Guid? id) => id ?? Guid.Empty;

    private const string NullId = "'00000000-0000-0000-0000-000000000000'::uuid";

    public void Project(IEvent<FundEstablished> e, IDocumentOperations ops)
    {
        var row = FundRow.Of(e.Data);
        ops.QueueSqlCommand($"insert into {T(FundsTable)} (fund_id, name, currency) values (?, ?, ?) on conflict do nothing", row.FundId, row.Name, row.Currency);
    }

    public void Project(IEvent<PoolOpened> e, IDocumentOperations ops)
    {
        var row = PoolRow.Of(e.Data, e.Version);
        ops.QueueSqlCommand($"insert into {T(PoolsTable)} (fund_id, pool_id, name, version, opened_at_ns) values (?, ?, ?, ?, ?) on conflict do nothing",
            row.FundId, row.PoolId, row.Name, row.Version, row.OpenedAtNs);
    }

    public void Project(IEvent<PoolDeposited> e, IDocumentOperations ops) => Post(e, ops);

    /// <summary>
    /// The claim's entitlement: a new row, or, for a claim already owed (an appeal), its new amount and the buyer key it lacked; what is
    /// committed to it stays (<see cref="EntitlementRow.RecordedAgain"/>).
    /// </summary>
    public void Project(IEvent<EntitlementRecorded> e, IDocumentOperations ops)
    {
        var row = EntitlementRow.Recorded(e.StreamId, e.Data, e.Version);
        ops.QueueSqlCommand(
            _recordedSql ??= $"""
                              insert into {T(EntitlementsTable)} as t (fund_id, claim_id, claim_reference, case_id, platform, supplier_account_id, buyer_country,
                                  amount, allocated, in_transit, settled, buyer_key, version)
                              values (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, (?::text[])[1], ?)
                              on conflict (fund_id, claim_id) do update set amount = excluded.amount, buyer_key = coalesce(t.buyer_key, excluded.buyer_key), version = excluded.version
                              where t.version < excluded.version
                              """,
            // The buyer key in an array: a queued command's parameters take no null, an array's elements do.
            row.FundId, row.ClaimId, row.ClaimReference, row.CaseId, row.Platform, row.SupplierAccountId, row.BuyerCountry, row.Amount, new[] { row.BuyerKey }, row.Version);
    }

    private string? _recordedSql, _entitlementsMovedSql;

    public void Project(IEvent<RoundPrepared> e, IDocumentOperations ops)
    {
        Post(e, ops);
        EntitlementsMoved(ops, e.StreamId, [e]);
    }

    public void Project(IEvent<RoundCancelled> e, IDocumentOperations ops)
    {
        Post(e, ops);
        EntitlementsMoved(ops, e.StreamId, [e]);
    }

    /// <summary>
    /// What the events (of one fund, in stream order) add to its claims' committed amounts (<see cref="EntitlementChange.By"/>), in one
    /// statement whatever their number: a 10,000-claim round, its release or a bank statement's run of settlements. Each claim's changes
    /// are summed over the events not yet applied to its row (newer than its version), then added once.
    /// </summary>
    private void EntitlementsMoved(IDocumentOperations ops, Guid fundId, IReadOnlyList<IEvent> events)
    {
        var changes = events.SelectMany(e => EntitlementChange.By(e.Data).Select(c => (Change: c, e.Version))).ToArray();
        if (changes.Length == 0) return;
        ops.QueueSqlCommand(
            _entitlementsMovedSql ??= $"""
                                       update {T(EntitlementsTable)} t
                                       set allocated = t.allocated + c.allocated, in_transit = t.in_transit + c.in_transit, settled = t.settled + c.settled, version = c.version
                                       from (select i.claim_id, sum(i.allocated) as allocated, sum(i.in_transit) as in_transit, sum(i.settled) as settled, max(i.version) as version
                                             from unnest(?, ?, ?, ?, ?) as i(claim_id, allocated, in_transit, settled, version)
                                             join {T(EntitlementsTable)} r on r.fund_id = ? and r.claim_id = i.claim_id and r.version < i.version
                                             group by i.claim_id) c
                                       where t.fund_id = ? and t.claim_id = c.claim_id
                                       """,
            changes.Select(c => c.Change.ClaimId).ToArray(), changes.Select(c => c.Change.Allocated).ToArray(), changes.Select(c => c.Change.InTransit).ToArray(),
            changes.Select(c => c.Change.Settled).ToArray(), changes.Select(c => c.Version).ToArray(), fundId, fundId);
    }

    /// <summary>
    /// The round's payouts and what each carries per claim, in two statements whatever the number of payouts (a row per
    /// payout, a statement per row, was most of this projection's statements when a rebuild replays a large fund), and what it
    /// moves from allocated to in transit on each claim's entitlement, in one.
    /// </summary>
    public void Project(IEvent<RoundReleased> e, IDocumentOperations ops)
    {
        Post(e, ops);
        var payouts = PayoutRow.IssuedBy(e.Data, Json(ops));
        if (payouts.Count == 0) return;
        ops.QueueSqlCommand(
            $"""
             insert into {T(PayoutsTable)} (payout_id, fund_id, reference, round_id, claim_id, claim_reference, amount, currency, issued_at_ns, issued, status)
             select p.payout_id, p.fund_id, p.reference, p.round_id, nullif(p.claim_id, {NullId}), p.claim_reference, p.amount, p.currency, p.issued_at_ns,
                    p.issued::jsonb, '{nameof(PayoutStatus.InTransit)}'
             from unnest(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) as p(payout_id, fund_id, reference, round_id, claim_id, claim_reference, amount, currency, issued_at_ns, issued)
             on conflict do nothing
             """,
            payouts.Select(p => p.PayoutId).ToArray(), payouts.Select(p => p.FundId).ToArray(), payouts.Select(p => p.Reference).ToArray(),
            payouts.Select(p => p.RoundId).ToArray(), payouts.Select(p => Param(p.ClaimId)).ToArray(), payouts.Select(p => p.ClaimReference).ToArray(),
            payouts.Select(p => p.Amount).ToArray(), payouts.Select(p => p.Currency).ToArray(), payouts.Select(p => p.IssuedAtNs).ToArray(),
            payouts.Select(p => p.Issued).ToArray());
        PayoutClaims(ops, PayoutClaimRow.IssuedBy(e.Data));
        EntitlementsMoved(ops, e.StreamId, [e]);
        PayoutDays(ops, [.. payouts.Select(p => p.PayoutId)]);
    }

    /// <summary>What payouts carry per claim, one statement for all of them.</summary>
    private void PayoutClaims(IDocumentOperations ops, IReadOnlyList<PayoutClaimRow> rows)
    {
        if (rows.Count == 0) return;
        ops.QueueSqlCommand(
            $"insert into {T(PayoutClaimsTable)} (claim_id, payout_id, fund_id, amount) select * from unnest(?, ?, ?, ?) on conflict do nothing",
            rows.Select(c => c.ClaimId).ToArray(), rows.Select(c => c.PayoutId).ToArray(), rows.Select(c => c.FundId).ToArray(), rows.Select(c => c.Amount).ToArray());
    }

    // Settled and returned as PayoutRow.Settled / Returned say, in SQL.
    public void Project(IEvent<PayoutSettled> e, IDocumentOperations ops)
    {
        Post(e, ops);
        var at = ReportTime.Ns(e.Data.SettledAt);
        ops.QueueSqlCommand(_settledSql ??= $"update {T(PayoutsTable)} set settled_at_ns = ?, closed_at_ns = coalesce(closed_at_ns, ?), status = '{nameof(PayoutStatus.Settled)}' where payout_id = ?", at, at, e.Data.PayoutId);
        EntitlementsMoved(ops, e.StreamId, [e]);
        PayoutDays(ops, [e.Data.PayoutId]);
    }

    public void Project(IEvent<PayoutReturned> e, IDocumentOperations ops)
    {
        Post(e, ops);
        var at = ReportTime.Ns(e.Data.ReturnedAt);
        ops.QueueSqlCommand(_returnedSql ??= $"update {T(PayoutsTable)} set returned_at_ns = ?, return_reason = ?, closed_at_ns = coalesce(closed_at_ns, ?), status = '{nameof(PayoutStatus.Returned)}' where payout_id = ?",
            at, e.Data.Reason, at, e.Data.PayoutId);
        EntitlementsMoved(ops, e.StreamId, [e]);
        PayoutDays(ops, [e.Data.PayoutId]);
    }

    /// <summary>
    /// The inline entry point, re-implemented so a transaction's runs of settlements or returns (<see cref="PayoutRuns"/>: a bank
    /// statement settling thousands of payouts) are written with four statements per run (postings, payout rows, entitlements) instead of four or more per payout;
    /// every other event goes to its <c>Project</c> method as before. The rows written are the same (the fund report tests and
    /// FundReportsRebuildTests hold both paths to the rebuild's fold).
    /// </summary>
    /// <para>The register's day totals are recomputed once for the transaction, after every payout row it writes (a statement that
    /// alternates settlements and returns is hundreds of runs on the same day), not once per event or run.</para>
    async Task JasperFx.Events.Projections.IInlineProjection<IDocumentOperations>.ApplyAsync(IDocumentOperations operations, IEnumerable<StreamAction> streams,
        CancellationToken cancellation)
    {
        var touched = new HashSet<Guid>();
        _pendingDays.Add(operations, touched);
        try
        {
            await PayoutRuns.ApplyAsync(operations, streams, e => [PayoutIdOf(e)], ProjectRun, e => ApplyAsync(operations, e, cancellation));
        }
        finally
        {
            _pendingDays.Remove(operations);
        }
        PayoutDays(operations, [.. touched]);
    }

    /// <summary>Payouts whose register days a transaction in <c>ApplyAsync</c> will recompute at its end (keyed by its operations).</summary>
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<IDocumentOperations, HashSet<Guid>> _pendingDays = new();

    private static Guid PayoutIdOf(IEvent e) => e.Data switch
    {
        PayoutSettled s => s.PayoutId,
        PayoutReturned r => r.PayoutId,
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.EventTypeName, "Not a payout settlement or return."),
    };

    /// <summary>A run of settlements or of returns (distinct payouts): their postings, their payout rows, then their claims' entitlements, set-based.</summary>
    private void ProjectRun(IReadOnlyList<IEvent> run, IDocumentOperations ops)
    {
        PostRun(run, ops);
        if (run[0].Data is PayoutSettled)
        {
            var settled = run.Select(e => (PayoutSettled)e.Data).ToArray();
            ops.QueueSqlCommand(
                _settledRunSql ??= $"""
                                    update {T(PayoutsTable)} p set settled_at_ns = i.at_ns, closed_at_ns = coalesce(p.closed_at_ns, i.at_ns), status = '{nameof(PayoutStatus.Settled)}'
                                    from unnest(?, ?) as i(payout_id, at_ns) where p.payout_id = i.payout_id
                                    """,
                settled.Select(s => s.PayoutId).ToArray(), settled.Select(s => ReportTime.Ns(s.SettledAt)).ToArray());
        }
        else
        {
            var returned = run.Select(e => (PayoutReturned)e.Data).ToArray();
            ops.QueueSqlCommand(
                _returnedRunSql ??= $"""
                                     update {T(PayoutsTable)} p set returned_at_ns = i.at_ns, return_reason = i.reason, closed_at_ns = coalesce(p.closed_at_ns, i.at_ns),
                                         status = '{nameof(PayoutStatus.Returned)}'
                                     from unnest(?, ?, ?) as i(payout_id, at_ns, reason) where p.payout_id = i.payout_id
                                     """,
                returned.Select(r => r.PayoutId).ToArray(), returned.Select(r => ReportTime.Ns(r.ReturnedAt)).ToArray(), returned.Select(r => r.Reason).ToArray());
        }
        // A run is one stream's (PayoutRuns splits each stream's events); a claim paid by several of its payouts is summed first.
        EntitlementsMoved(ops, run[0].StreamId, run);
        PayoutDays(ops, [.. run.Select(PayoutIdOf)]);
    }

    private string? _settledRunSql, _returnedRunSql;

    /// <summary>The two statements of <see cref="PostRun"/>, built together once (they share the accounts' bases).</summary>
    private RunPostings? _runPostings;

    private sealed record RunPostings(string Insert, string Retotal);

    /// <summary>
    /// What <see cref="Post{TEvent}"/> writes for each event of the run, in two statements whatever its length. The first inserts every
    /// row with its running totals: the totals of the account's last row before the run's first row of that account, plus the run's own
    /// amounts up to the row (a window over the run in business-time order). That is exact when nothing already posted lies after the
    /// run's first row in business time, the normal case. The second recomputes the totals of every row of those accounts from the
    /// run's first row on and writes only those that differ: nothing normally, and, when a clock was set back or a row already
    /// existed, exactly what the per-event statement's "rows after it take its amounts too" gives. Already-posted events post nothing again.
    /// </summary>
    private void PostRun(IReadOnlyList<IEvent> run, IDocumentOperations ops)
    {
        var rows = run.SelectMany(e =>
        {
            var at = Fund.OccurredAt(e.Data);
            return Posted.By(e.Data).Select(p => (Fund: e.StreamId, p.PoolId, p.Account, Ns: ReportTime.Ns(at), e.Version, At: at, e.Id, e.EventTypeName, p.Currency, p.Debit, p.Credit));
        }).ToArray();
        if (rows.Length == 0) return;

        var sql = _runPostings ??= BuildRunPostings();
        ops.QueueSqlCommand(
            sql.Insert,
            rows.Select(r => r.Fund).ToArray(), rows.Select(r => r.PoolId).ToArray(), rows.Select(r => r.Account).ToArray(), rows.Select(r => r.Ns).ToArray(),
            rows.Select(r => r.Version).ToArray(), rows.Select(r => r.At).ToArray(), rows.Select(r => r.Id).ToArray(), rows.Select(r => r.EventTypeName).ToArray(),
            rows.Select(r => r.Currency).ToArray(), rows.Select(r => r.Debit).ToArray(), rows.Select(r => r.Credit).ToArray());
        ops.QueueSqlCommand(
            sql.Retotal,
            rows.Select(r => r.Fund).ToArray(), rows.Select(r => r.PoolId).ToArray(), rows.Select(r => r.Account).ToArray(), rows.Select(r => r.Ns).ToArray(),
            rows.Select(r => r.Version).ToArray());
    }

    private RunPostings BuildRunPostings()
    {
        // The accounts' totals just before the run's first row of each, which both statements start from.
        var bases = $"""
                     starts as (
                         select distinct on (s.fund_id, s.pool_id, s.account) s.fund_id, s.pool_id, s.account, s.ns, s.version
                         from input s order by s.fund_id, s.pool_id, s.account, s.ns, s.version),
                     bases as (
                         select s.*, coalesce(b.debit_total, 0) as debit_base, coalesce(b.credit_total, 0) as credit_base from starts s
                         left join lateral (
                             select b.debit_total, b.credit_total from {T(PostingsTable)} b
                             where b.fund_id = s.fund_id and b.pool_id = s.pool_id and b.account = s.account and (b.occurred_at_ns, b.version) < (s.ns, s.version)
                             order by b.occurred_at_ns desc, b.version desc limit 1) as b on true)
                     """;
        return new RunPostings(
            $"""
                             with input as (
                                 select * from unnest(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                                     as i(fund_id, pool_id, account, ns, version, occurred_at, event_id, event_type, currency, debit, credit)),
                             {bases}
                             insert into {T(PostingsTable)} (fund_id, pool_id, account, occurred_at_ns, version, occurred_at, event_id, event_type, currency, debit, credit, debit_total, credit_total)
                             select i.fund_id, i.pool_id, i.account, i.ns, i.version, i.occurred_at, i.event_id, i.event_type, i.currency, i.debit, i.credit,
                                    b.debit_base + sum(i.debit) over w, b.credit_base + sum(i.credit) over w
                             from input i join bases b on b.fund_id = i.fund_id and b.pool_id = i.pool_id and b.account = i.account
                             window w as (partition by i.fund_id, i.pool_id, i.account order by i.ns, i.version rows between unbounded preceding and current row)
                             on conflict do nothing
                             """,
            $"""
                                with input as (select * from unnest(?, ?, ?, ?, ?) as i(fund_id, pool_id, account, ns, version)),
                                {bases},
                                totals as (
                                    select p.fund_id, p.pool_id, p.account, p.occurred_at_ns, p.version,
                                           b.debit_base + sum(p.debit) over w as debit_total, b.credit_base + sum(p.credit) over w as credit_total
                                    from bases b join {T(PostingsTable)} p
                                        on p.fund_id = b.fund_id and p.pool_id = b.pool_id and p.account = b.account and (p.occurred_at_ns, p.version) >= (b.ns, b.version)
                                    window w as (partition by p.fund_id, p.pool_id, p.account order by p.occurred_at_ns, p.version rows between unbounded preceding and current row))
                                update {T(PostingsTable)} t set debit_total = totals.debit_total, credit_total = totals.credit_total
                                from totals
                                where t.fund_id = totals.fund_id and t.pool_id = totals.pool_id and t.account = totals.account
                                  and t.occurred_at_ns = totals.occurred_at_ns and t.version = totals.version
                                  and (t.debit_total <> totals.debit_total or t.credit_total <> totals.credit_total)
                                """);
    }

    /// <summary>
    /// The new payout, in its original's round (read from the original's row: nothing is written for an unknown original), and the
    /// original sent again as it, nothing pending any more (<see cref="PayoutRow.ReplacedBy"/>).
    /// </summary>
    public void Project(IEvent<PayoutReissued> e, IDocumentOperations ops)
    {
        Post(e, ops);
        // Issued in its original's round, which the statement reads from the original's row: the JSON takes it there.
        var row = PayoutRow.ReissuedBy(e.Data, Guid.Empty, Json(ops));
        ops.QueueSqlCommand(
            $"""
             insert into {T(PayoutsTable)} (payout_id, fund_id, reference, round_id, claim_id, claim_reference, amount, currency, issued_at_ns, reissue_of, issued, status)
             select ?, ?, ?, original.round_id, nullif(?, {NullId}), ?, ?, ?, ?, original.payout_id,
                    jsonb_set(?::jsonb, '{RoundIdPath(ops)}', to_jsonb(original.round_id)), '{nameof(PayoutStatus.InTransit)}'
             from {T(PayoutsTable)} original where original.payout_id = ?
             on conflict do nothing
             """,
            row.PayoutId, row.FundId, row.Reference, Param(row.ClaimId), row.ClaimReference, row.Amount, row.Currency, row.IssuedAtNs, row.Issued, row.ReissueOf!.Value);
        ops.QueueSqlCommand($"update {T(PayoutsTable)} set reissued_as = ?, pending_reissue = null where payout_id = ?", e.Data.PayoutId, e.Data.OriginalPayoutId);
        PayoutClaims(ops, PayoutClaimRow.ReissuedBy(e.Data));
        EntitlementsMoved(ops, e.StreamId, [e]);
        PayoutDays(ops, [e.Data.PayoutId]);
    }

    public void Project(IEvent<PayoutReissuePrepared> e, IDocumentOperations ops) =>
        ops.QueueSqlCommand($"update {T(PayoutsTable)} set pending_reissue = ?::jsonb where payout_id = ?", PayoutRow.PendingJson(e.Data, Json(ops)), e.Data.PayoutId);

    public void Project(IEvent<PayoutReissueWithdrawn> e, IDocumentOperations ops) =>
        ops.QueueSqlCommand($"update {T(PayoutsTable)} set pending_reissue = null where payout_id = ?", e.Data.PayoutId);

    /// <summary>The store's serializer, which writes the payout's JSON as the fund's snapshot does.</summary>
    private Marten.ISerializer Json(IDocumentOperations ops) => _json ??= ops.DocumentStore.Options.Serializer();

    private Marten.ISerializer? _json;

    /// <summary>The path of <see cref="Payout.RoundId"/> in the serializer's JSON (<c>{roundId}</c> with its casing), for <c>jsonb_set</c>.</summary>
    private string RoundIdPath(IDocumentOperations ops) => _roundIdPath ??= "{" + ReportSql.JsonName(Json(ops), nameof(Payout.RoundId)) + "}";

    private string? _roundIdPath;

    /// <summary>Every line of the statement in one statement (one per line was thousands per imported statement).</summary>
    public void Project(IEvent<BankStatementImported> e, IDocumentOperations ops)
    {
        var lines = StatementLineRow.Of(e.Data);
        if (lines.Count == 0) return;
        ops.QueueSqlCommand(
            $"""
             insert into {T(StatementLinesTable)} (fund_id, statement_id, line, imported_at_ns, date, reference, amount, currency, direction, match, payout_id, detail)
             select l.fund_id, l.statement_id, l.line, l.imported_at_ns, l.date, l.reference, l.amount, l.currency, l.direction, l.match, nullif(l.payout_id, {NullId}), l.detail
             from unnest(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) as l(fund_id, statement_id, line, imported_at_ns, date, reference, amount, currency, direction, match, payout_id, detail)
             on conflict do nothing
             """,
            lines.Select(l => l.FundId).ToArray(), lines.Select(l => l.StatementId).ToArray(), lines.Select(l => l.Line).ToArray(), lines.Select(l => l.ImportedAtNs).ToArray(),
            lines.Select(l => l.Date).ToArray(), lines.Select(l => l.Reference).ToArray(), lines.Select(l => l.Amount).ToArray(), lines.Select(l => l.Currency).ToArray(),
            lines.Select(l => l.Direction).ToArray(), lines.Select(l => l.Match).ToArray(), lines.Select(l => Param(l.PayoutId)).ToArray(), lines.Select(l => l.Detail).ToArray());
    }

    /// <summary>
    /// The statement of <see cref="Post{TEvent}"/>, built once: a round's release or a bank statement posts thousands of rows in one
    /// transaction, and each queued command held its own copy of this ~1 KB text until the commit (issue #7, PROFILING.md).
    /// </summary>
    private string PostSql => _postSql ??= $"""
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
             """;

    private string? _postSql;

    /// <summary>
    /// Writes what the event posts (<see cref="Posted.By"/>: <see cref="Books.PostingsFor"/>, the books' own function, so these rows
    /// never disagree with the books), one row per pool and account, with the account's running totals in business-time order: the
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
        foreach (var posted in Posted.By(e.Data))
        {
            ops.QueueSqlCommand(
                PostSql,
                fundId, posted.PoolId, posted.Account, ns, e.Version, at, e.Id, e.EventTypeName, posted.Currency, posted.Debit, posted.Credit, posted.Debit, posted.Credit,
                fundId, posted.PoolId, posted.Account, ns, e.Version,
                posted.Debit, posted.Credit, fundId, posted.PoolId, posted.Account, ns, e.Version);
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

    /// <summary>A member's name in the JSON the store's serializer writes (its casing), for SQL that reads stored documents.</summary>
    public static string JsonName(Marten.ISerializer serializer, string member) => serializer.Casing switch
    {
        Weasel.Core.Casing.CamelCase => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(member),
        Weasel.Core.Casing.SnakeCase => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(member),
        _ => member,
    };

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
