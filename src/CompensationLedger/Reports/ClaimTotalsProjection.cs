using CompensationLedger.Claims;
using CompensationLedger.Funds;
using JasperFx.Events;
using Marten;
using Marten.Events.Projections;
using Weasel.Postgresql;
using Weasel.Postgresql.Tables;

namespace CompensationLedger.Reports;

/// <summary>
/// The tables paid-versus-lost answers from, now and as of any instant, kept <b>inline</b> from the claim events and the
/// fund's payout settlements and returns (so totals are never behind the events that change them):
/// <list type="bullet">
/// <item><c>report_claim_totals</c>: one row per claim, <see cref="ClaimTotalsLine"/> in typed columns (its group keys, its
/// figures, its status). "Now" sums these rows.</item>
/// <item><c>report_claim_totals_changes</c>: one row per event and claim it changed: by how much it changed each summed figure
/// (<see cref="Figures"/>) and each status count, with the event's business time in ns and the claim's group keys. "As of t"
/// is one <c>sum(...) where at_ns &lt;= t group by key</c> over these rows, no fold.</item>
/// </list>
/// <para>
/// The state transitions are <see cref="ClaimTotalsLine"/>'s, written as SQL assignments on the claim's row; each change row is
/// the claim's figures after the event minus before it, computed in the same statement from the row before and after the
/// update, so a change row cannot disagree with the row it moved. <see cref="ClaimTotalsLine.Fold"/> stays the definition;
/// PaidVsLostTablesTests hold the tables equal to it now and at every instant of seeded random histories.
/// </para>
/// <para>
/// <b>Idempotent</b>: a change row's key is (claim, event id), and the claim's row moves only when that change row is new, so an
/// event applied twice (live, and by a rebuild replaying it) counts once. The transitions depend on the claim's state, so a
/// claim's events must be applied in order, as inline projection and rebuild both do.
/// </para>
/// <para>
/// <b>Business time going backwards.</b> Summing changes up to t equals the fold at t when, per claim, the events' business
/// times never decrease in the order they were applied (then the events up to t are a prefix of the claim's history). A claim
/// event stamped earlier than one already applied to that claim (a clock set back) marks the claim not <c>ordered</c>; as-of
/// reports then leave that claim's change rows out and fold its events instead (<see cref="ClaimTotalsSql"/>). Exact either way;
/// only such claims cost a fold.
/// </para>
/// </summary>
public sealed partial class ClaimTotalsProjection : EventProjection, JasperFx.Events.Projections.IInlineProjection<IDocumentOperations>
{
    /// <summary>The name to rebuild it by: <c>rebuild ClaimTotals</c> (<see cref="ClaimTotalsRebuild"/>).</summary>
    public const string ProjectionName = "ClaimTotals";

    public const string ClaimsTable = "report_claim_totals";
    public const string ChangesTable = "report_claim_totals_changes";
    public const string RollupTable = ClaimTotalsRollup.RollupTable;
    public const string CheckpointTable = ClaimTotalsRollup.CheckpointTable;
    public const string MonthlyTable = ClaimTotalsRollup.MonthlyTable;
    public const string DailyTable = ClaimTotalsRollup.DailyTable;

    /// <summary>Every table of the totals, the rollup's last: what a rebuild swaps and a test empties.</summary>
    public static readonly IReadOnlyList<string> Tables = [ClaimsTable, ChangesTable, RollupTable, MonthlyTable, DailyTable, CheckpointTable];

    /// <summary>The summed figures of one claim, as SQL over its row (alias <c>{0}</c>): what "now" sums and what a change row moves.</summary>
    public static readonly IReadOnlyList<(string Column, string Expression, bool IsCount)> Figures = BuildFigures();

    /// <summary>The dimensions a change row repeats from its claim, so an as-of report groups without a join.</summary>
    public static readonly IReadOnlyList<string> Keys = ["case_id", "platform", "supplier_account", "buyer_country", "payment_month", "fund_currency", "paid_currency"];

    private readonly string _schema;

    public ClaimTotalsProjection(string schema)
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

    public static string StatusColumn(ClaimStatus status) => "n_" + ListClaimsEndpoint.StatusName(status).Replace('-', '_');

    private static List<(string, string, bool)> BuildFigures()
    {
        List<(string, string, bool)> figures =
        [
            ("claims", "1", true),
            ("claimed", "coalesce({0}.loss, 0)", false),
            ("verified", "case when {0}.verified_eligible then coalesce({0}.loss, 0) else 0 end", false),
            // A loss in another currency not converted yet (no approval): counted in its own currency, with how many claims, so a
            // currency shows whenever a claim is in it (as ClaimTotals.Sum lists it), even for an amount of zero.
            ("unconverted_claims", "case when {0}.loss is null then 1 else 0 end", true),
            ("unconverted", "case when {0}.loss is null then {0}.amount_paid else 0 end", false),
            ("verified_unconverted_claims", "case when {0}.verified_eligible and {0}.loss is null then 1 else 0 end", true),
            ("verified_unconverted", "case when {0}.verified_eligible and {0}.loss is null then {0}.amount_paid else 0 end", false),
            ("entitled", "{0}.entitled", false),
            ("paid", "{0}.paid", false),
            ("returned", "{0}.returned", false),
        ];
        foreach (var status in Enum.GetValues<ClaimStatus>())
            figures.Add((StatusColumn(status), $"case when {{0}}.status = '{ListClaimsEndpoint.StatusName(status)}' then 1 else 0 end", true));
        return figures;
    }

    public static string Figure(int index, string alias) => string.Format(System.Globalization.CultureInfo.InvariantCulture, Figures[index].Expression, alias);

    public static IReadOnlyList<Table> Schema(string schema)
    {
        Table New(string name) => new(new PostgresqlObjectName(schema, name, SchemaUtils.IdentifierUsage.General));

        var claims = New(ClaimsTable);
        claims.AddColumn<Guid>("claim_id").AsPrimaryKey();
        claims.AddColumn<Guid>("case_id").NotNull();
        claims.AddColumn<string>("platform").NotNull();
        claims.AddColumn<string>("supplier_account").NotNull();
        claims.AddColumn<string>("buyer_country").NotNull();
        claims.AddColumn("payment_date", "date").NotNull();
        claims.AddColumn<string>("payment_month").NotNull(); // yyyy-MM of the payment date: the month a loss counts in
        claims.AddColumn<string>("fund_currency").NotNull();
        claims.AddColumn<string>("paid_currency").NotNull();
        claims.AddColumn<decimal>("amount_paid").NotNull();
        claims.AddColumn<decimal>("loss"); // in the fund currency; null until known (another currency, not approved yet)
        claims.AddColumn<string>("status").NotNull();
        claims.AddColumn<string>("resume_status");
        claims.AddColumn<bool>("verified_eligible").NotNull();
        claims.AddColumn<decimal>("entitled").NotNull();
        claims.AddColumn<decimal>("paid").NotNull();
        claims.AddColumn<decimal>("returned").NotNull();
        claims.AddColumn<long>("last_event_at_ns").NotNull();
        claims.AddColumn<long>("max_at_ns").NotNull();
        // False once an event arrived stamped earlier than one already applied (see the class summary).
        claims.AddColumn<bool>("ordered").NotNull();
        claims.Indexes.Add(new IndexDefinition($"ix_{ClaimsTable}_case").AgainstColumns("case_id"));
        claims.Indexes.Add(new IndexDefinition($"ix_{ClaimsTable}_disordered") { Predicate = "not ordered" }.AgainstColumns("case_id"));

        var changes = New(ChangesTable);
        changes.AddColumn<Guid>("claim_id").AsPrimaryKey();
        changes.AddColumn<Guid>("event_id").AsPrimaryKey();
        changes.AddColumn<long>("at_ns").NotNull();
        changes.AddColumn<Guid>("case_id").NotNull();
        foreach (var key in Keys.Skip(1)) changes.AddColumn<string>(key).NotNull();
        foreach (var (column, _, isCount) in Figures)
            if (isCount) changes.AddColumn<int>(column).NotNull();
            else changes.AddColumn<decimal>(column).NotNull();
        changes.Indexes.Add(new IndexDefinition($"ix_{ChangesTable}_case_at").AgainstColumns("case_id", "at_ns"));
        changes.Indexes.Add(new IndexDefinition($"ix_{ChangesTable}_at").AgainstColumns("at_ns"));
        // The writing transaction's id, for ClaimTotalsRollup: set by the default whoever writes (inline projection, COPY import,
        // rebuild), never by a value given. Unlike a sequence number, it says which rows a snapshot's xmin guarantees complete.
        changes.AddColumn(ClaimTotalsRollup.XidColumn, "xid8").NotNull().DefaultValueByExpression("pg_current_xact_id()");
        changes.Indexes.Add(new IndexDefinition($"ix_{ChangesTable}_xid").AgainstColumns(ClaimTotalsRollup.XidColumn));

        return [claims, changes, .. ClaimTotalsRollup.Schema(schema)];
    }

    private string T(string table) => $"{_schema}.{table}";

    private static readonly string KeyList = string.Join(", ", Keys);
    private static readonly string FigureList = string.Join(", ", Figures.Select(f => f.Column));

    /// <summary>
    /// A filed claim's row, column by column: what this projection inserts for a <see cref="ClaimFiled"/> and what the bulk
    /// import copies (ClaimCopy), so the two writers cannot disagree. The loss is null until known (another currency).
    /// </summary>
    public static IReadOnlyList<(string Column, object? Value)> FiledRow(ClaimFiled filed)
    {
        var at = ReportTime.Ns(filed.FiledAt);
        return RowOf(ClaimTotalsLine.Start(filed), at, at, ordered: true);
    }

    /// <summary>
    /// A claim's row, column by column, for its line and the business times applied to it (<c>max_at_ns</c>, <c>ordered</c>: see the
    /// class summary): what <see cref="FiledRow"/> gives a filing and what <see cref="ClaimTotalsRebuild"/> copies for the line it folded.
    /// </summary>
    public static IReadOnlyList<(string Column, object? Value)> RowOf(ClaimTotalsLine line, long lastEventAtNs, long maxAtNs, bool ordered) =>
    [
        ("claim_id", line.Id), ("case_id", line.CaseId), ("platform", line.Platform), ("supplier_account", line.SupplierAccount),
        ("buyer_country", line.BuyerCountry), ("payment_date", line.PaymentDate), ("payment_month", line.PaymentMonth),
        ("fund_currency", line.FundCurrency), ("paid_currency", line.AmountPaid.Currency), ("amount_paid", line.AmountPaid.Amount),
        ("loss", line.LossInFundCurrency), ("status", ListClaimsEndpoint.StatusName(line.Status)), ("verified_eligible", line.VerifiedEligible),
        ("resume_status", line.ResumeStatus is { } resume ? ListClaimsEndpoint.StatusName(resume) : null),
        ("entitled", line.Entitled), ("paid", line.Paid), ("returned", line.Returned), ("last_event_at_ns", lastEventAtNs), ("max_at_ns", maxAtNs),
        ("ordered", ordered),
    ];

    /// <summary>
    /// The values of <see cref="Figures"/> for a line, in their order, computed in C# as the SQL expressions compute them over its row
    /// (counts as whole numbers, amounts with their scale): what <see cref="ClaimTotalsRebuild"/> writes change rows from. The rebuild
    /// tests hold rows written from these equal, to the byte, to rows the SQL wrote.
    /// </summary>
    public static decimal[] FigureValues(ClaimTotalsLine line)
    {
        var values = new decimal[FigureReaders.Length];
        for (var i = 0; i < values.Length; i++) values[i] = FigureReaders[i](line);
        return values;
    }

    /// <summary>
    /// Each figure's C# counterpart, in <see cref="Figures"/> order, resolved once: the rebuild asks for them on every change row
    /// (matching column names per row, status columns built as strings each time, was an eighth of a rebuild's CPU).
    /// </summary>
    private static readonly Func<ClaimTotalsLine, decimal>[] FigureReaders = [.. Figures.Select(f => FigureReader(f.Column))];

    private static Func<ClaimTotalsLine, decimal> FigureReader(string column)
    {
        switch (column)
        {
            case "claims": return _ => 1;
            case "claimed": return line => line.LossInFundCurrency ?? 0m;
            case "verified": return line => line.VerifiedEligible ? line.LossInFundCurrency ?? 0m : 0m;
            case "unconverted_claims": return line => line.LossInFundCurrency is null ? 1 : 0;
            case "unconverted": return line => line.LossInFundCurrency is null ? line.AmountPaid.Amount : 0m;
            case "verified_unconverted_claims": return line => line.VerifiedEligible && line.LossInFundCurrency is null ? 1 : 0;
            case "verified_unconverted": return line => line.VerifiedEligible && line.LossInFundCurrency is null ? line.AmountPaid.Amount : 0m;
            case "entitled": return line => line.Entitled;
            case "paid": return line => line.Paid;
            case "returned": return line => line.Returned;
        }
        foreach (var status in Enum.GetValues<ClaimStatus>())
            if (column == StatusColumn(status)) return line => line.Status == status ? 1 : 0;
        throw new InvalidOperationException($"The figure {column} has no C# counterpart in {nameof(FigureReader)}: add it beside its SQL expression.");
    }

    /// <summary>The events this projection applies: those it has a <c>Project</c> method for (the rest leave the tables as they are).</summary>
    public static IReadOnlyList<Type> AppliedEventTypes { get; } =
    [
        .. typeof(ClaimTotalsProjection).GetMethods()
            .Where(m => m.Name == nameof(Project) && m.GetParameters() is [{ ParameterType.IsGenericType: true } e, _] && e.ParameterType.GetGenericTypeDefinition() == typeof(IEvent<>))
            .Select(m => m.GetParameters()[0].ParameterType.GetGenericArguments()[0]),
    ];

    /// <summary>A filing's change row, from the claim rows just written (alias <c>n</c>): every figure from zero to the row's.</summary>
    public static string FiledChangeColumns => $"claim_id, event_id, at_ns, {KeyList}, {FigureList}";

    public static string FiledChangeValues(string eventId) =>
        $"n.claim_id, {eventId}, n.last_event_at_ns, {string.Join(", ", Keys.Select(k => "n." + k))}, {string.Join(", ", Figures.Select((_, i) => Figure(i, "n")))}";

    public void Project(IEvent<ClaimFiled> e, IDocumentOperations ops)
    {
        var row = FiledRow(e.Data);
        // Queued commands take no null parameters: a loss not known yet (and the resume status) is written as a literal null.
        var values = string.Join(", ", row.Select(c => c.Value is null ? "null" : "?"));
        ops.QueueSqlCommand(
            $"""
             with filed as (
                 insert into {T(ClaimsTable)} ({string.Join(", ", row.Select(c => c.Column))})
                 values ({values})
                 on conflict do nothing
                 returning *)
             insert into {T(ChangesTable)} ({FiledChangeColumns})
             select {FiledChangeValues("?")}
             from filed n
             on conflict do nothing
             """,
            [.. row.Where(c => c.Value is not null).Select(c => c.Value!), e.Id]);
    }

    public void Project(IEvent<ClaimVerified> e, IDocumentOperations ops)
    {
        var status = e.Data.Result switch
        {
            VerificationResult.VerifiedEligible => ClaimStatus.VerifiedEligible,
            VerificationResult.VerifiedIneligible => ClaimStatus.VerifiedIneligible,
            _ => ClaimStatus.NeedsReview,
        };
        Change(ops, e, e.Data.ClaimId, e.Data.VerifiedAt,
            $"status = {Status(status)}, verified_eligible = {(e.Data.Result == VerificationResult.VerifiedEligible ? "true" : "false")}");
    }

    public void Project(IEvent<ClaimInformationRequested> e, IDocumentOperations ops) =>
        Change(ops, e, e.Data.ClaimId, e.Data.RequestedAt, $"status = {Status(ClaimStatus.AwaitingInformation)}, resume_status = c.status");

    public void Project(IEvent<ClaimInformationProvided> e, IDocumentOperations ops) =>
        Change(ops, e, e.Data.ClaimId, e.Data.ProvidedAt, $"status = coalesce(c.resume_status, {Status(ClaimStatus.Filed)}), resume_status = null");

    public void Project(IEvent<ClaimLapsed> e, IDocumentOperations ops) =>
        Change(ops, e, e.Data.ClaimId, e.Data.LapsedAt, $"status = {Status(ClaimStatus.Lapsed)}, resume_status = null");

    public void Project(IEvent<ClaimApproved> e, IDocumentOperations ops) => Entitle(ops, e, e.Data.ClaimId, e.Data.Computation, e.Data.ApprovedAt);

    public void Project(IEvent<ClaimRejected> e, IDocumentOperations ops) =>
        Change(ops, e, e.Data.ClaimId, e.Data.RejectedAt, $"status = {Status(ClaimStatus.Rejected)}");

    public void Project(IEvent<ClaimAppealed> e, IDocumentOperations ops) =>
        Change(ops, e, e.Data.ClaimId, e.Data.AppealedAt, $"status = {Status(ClaimStatus.UnderAppeal)}");

    public void Project(IEvent<ClaimAppealGranted> e, IDocumentOperations ops) => Entitle(ops, e, e.Data.ClaimId, e.Data.Computation, e.Data.DecidedAt);

    public void Project(IEvent<ClaimAppealDismissed> e, IDocumentOperations ops) =>
        Change(ops, e, e.Data.ClaimId, e.Data.DecidedAt, $"status = {Status(ClaimStatus.Rejected)}");

    public void Project(IEvent<ClaimWithdrawn> e, IDocumentOperations ops) =>
        Change(ops, e, e.Data.ClaimId, e.Data.WithdrawnAt, $"status = {Status(ClaimStatus.Withdrawn)}, resume_status = null");

    public void Project(IEvent<PayoutSettled> e, IDocumentOperations ops)
    {
        var lines = PayoutLines.Of(e.Data);
        foreach (var claimId in lines.Select(l => l.ClaimId).Distinct())
            Change(ops, e, claimId, e.Data.SettledAt, "paid = c.paid + " + InFundCurrency, Checked(ClaimTotalsLine.AmountFor(claimId, lines)));
    }

    public void Project(IEvent<PayoutReturned> e, IDocumentOperations ops)
    {
        var lines = PayoutLines.Of(e.Data);
        foreach (var claimId in lines.Select(l => l.ClaimId).Distinct())
            Change(ops, e, claimId, e.Data.ReturnedAt, "returned = c.returned + " + InFundCurrency, Checked(ClaimTotalsLine.AmountFor(claimId, lines)));
    }

    /// <summary>
    /// The inline entry point, re-implemented so a transaction's runs of settlements or returns (<see cref="PayoutRuns"/>: a bank
    /// statement settling thousands of payouts; no claim twice in a run) change their claims with one statement per run instead of
    /// one per payout and claim; every other event goes to its <c>Project</c> method as before. PaidVsLostTablesTests hold both paths
    /// to <see cref="ClaimTotalsLine.Fold"/>.
    /// </summary>
    Task JasperFx.Events.Projections.IInlineProjection<IDocumentOperations>.ApplyAsync(IDocumentOperations operations, IEnumerable<JasperFx.Events.StreamAction> streams,
        CancellationToken cancellation) =>
        PayoutRuns.ApplyAsync(operations, streams, e => ClaimTotalsLine.ClaimIdsOf(e.Data), ChangeRun, e => ApplyAsync(operations, e, cancellation));

    /// <summary>
    /// <see cref="Project(IEvent{PayoutSettled}, IDocumentOperations)"/> (or the returned one) for a whole run, as one statement: the
    /// same lock, "only if this event has not changed this claim yet", assignment and change row as <see cref="ChangeSql"/>, for every
    /// (claim, event) of the run at once. The run names each claim once, so each claim's row moves once.
    /// </summary>
    private void ChangeRun(IReadOnlyList<IEvent> run, IDocumentOperations ops)
    {
        var settled = run[0].Data is PayoutSettled;
        var changes = run.SelectMany(e =>
        {
            var (lines, at) = e.Data switch
            {
                PayoutSettled s => (PayoutLines.Of(s), s.SettledAt),
                PayoutReturned r => (PayoutLines.Of(r), r.ReturnedAt),
                _ => throw new ArgumentOutOfRangeException(nameof(run), e.EventTypeName, "Not a payout settlement or return."),
            };
            return lines.Select(l => l.ClaimId).Distinct().Select(claimId => (ClaimId: claimId, EventId: e.Id, Ns: ReportTime.Ns(at), Amount: ClaimTotalsLine.AmountFor(claimId, lines)));
        }).ToArray();
        if (changes.Length == 0) return;
        var sql = settled
            ? _settledRunSql ??= ChangeRunSql("paid = c.paid + " + InFundCurrencyOfInput)
            : _returnedRunSql ??= ChangeRunSql("returned = c.returned + " + InFundCurrencyOfInput);
        ops.QueueSqlCommand(sql, changes.Select(c => c.ClaimId).ToArray(), changes.Select(c => c.EventId).ToArray(), changes.Select(c => c.Ns).ToArray(),
            changes.Select(c => c.Amount.Currency).ToArray(), changes.Select(c => c.Amount.Amount).ToArray());
    }

    private string? _settledRunSql, _returnedRunSql;

    /// <summary><see cref="InFundCurrency"/> over the run's input row instead of parameters.</summary>
    private const string InFundCurrencyOfInput =
        "case when c.fund_currency = input.currency then input.amount else ('Claim ' || c.claim_id || ' is paid in ' || c.fund_currency || ', not ' || input.currency)::numeric end";

    private string ChangeRunSql(string assignments) =>
            $"""
             with input as (select * from unnest(?, ?, ?, ?, ?) as i(claim_id, event_id, at_ns, currency, amount)),
             old as (
                 select o.* from {T(ClaimsTable)} o join input on input.claim_id = o.claim_id
                 where not exists (select 1 from {T(ChangesTable)} x where x.claim_id = o.claim_id and x.event_id = input.event_id)
                 for update of o),
             new as (
                 update {T(ClaimsTable)} c set {assignments}, last_event_at_ns = input.at_ns, max_at_ns = greatest(c.max_at_ns, input.at_ns),
                     ordered = c.ordered and input.at_ns >= c.max_at_ns
                 from old join input on input.claim_id = old.claim_id where c.claim_id = old.claim_id
                 returning c.*)
             insert into {T(ChangesTable)} (claim_id, event_id, at_ns, {KeyList}, {FigureList})
             select n.claim_id, input.event_id, input.at_ns, {string.Join(", ", Keys.Select(k => "n." + k))}, {string.Join(", ", Figures.Select((_, i) => $"{Figure(i, "n")} - {Figure(i, "o")}"))}
             from new n join old o on o.claim_id = n.claim_id join input on input.claim_id = n.claim_id
             on conflict do nothing
             """;

    // A payout amount in another currency than the claim's fund currency fails the transaction (as ClaimTotalsLine.Settle throws)
    // rather than being counted wrongly: the cast of the sentence to numeric raises an error that carries it.
    private const string InFundCurrency =
        "case when c.fund_currency = ? then ?::numeric else ('Claim ' || c.claim_id || ' is paid in ' || c.fund_currency || ', not ' || ?)::numeric end";

    private static object[] Checked(Money amount) => [amount.Currency, amount.Amount, amount.Currency];

    private void Entitle(IDocumentOperations ops, IEvent e, Guid claimId, EntitlementComputation computation, NodaTime.Instant at)
    {
        // The same figures as ClaimTotalsLine.Entitle: the entitlement, and the loss in the fund currency (converted at the recorded rate).
        var loss = ClaimTotalsLine.LossOf(computation);
        Change(ops, e, claimId, at, $"status = {Status(ClaimStatus.Approved)}, entitled = ?::numeric, loss = ?::numeric", computation.Entitlement.Amount, loss);
    }

    private static string Status(ClaimStatus status) => $"'{ListClaimsEndpoint.StatusName(status)}'";

    /// <summary>
    /// One event's change to one claim: lock the claim's row, apply <paramref name="assignments"/> (SQL over the row before, <c>c</c>),
    /// and write the change row (figures after minus before), only if this event has not changed this claim yet. A claim the totals
    /// do not know (a payout of a claim filed nowhere, as in fund-only tests) changes nothing, as the fold starts no line for it.
    /// </summary>
    private void Change(IDocumentOperations ops, IEvent e, Guid claimId, NodaTime.Instant at, string assignments, params object[] values)
    {
        var ns = ReportTime.Ns(at);
        ops.QueueSqlCommand(changeSql.GetOrAdd(assignments, ChangeSql), [claimId, e.Id, .. values, ns, ns, ns, e.Id, ns]);
    }

    /// <summary>The statement of <see cref="Change"/> for one kind of change, built once per kind (a few, not one per event).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> changeSql = new(StringComparer.Ordinal);

    private string ChangeSql(string assignments) =>
            $"""
             with old as (
                 select * from {T(ClaimsTable)} o
                 where o.claim_id = ? and not exists (select 1 from {T(ChangesTable)} x where x.claim_id = o.claim_id and x.event_id = ?)
                 for update),
             new as (
                 update {T(ClaimsTable)} c set {assignments}, last_event_at_ns = ?, max_at_ns = greatest(c.max_at_ns, ?), ordered = c.ordered and ? >= c.max_at_ns
                 from old where c.claim_id = old.claim_id
                 returning c.*)
             insert into {T(ChangesTable)} (claim_id, event_id, at_ns, {KeyList}, {FigureList})
             select n.claim_id, ?, ?, {string.Join(", ", Keys.Select(k => "n." + k))}, {string.Join(", ", Figures.Select((_, i) => $"{Figure(i, "n")} - {Figure(i, "o")}"))}
             from new n join old o on o.claim_id = n.claim_id
             on conflict do nothing
             """;
}
