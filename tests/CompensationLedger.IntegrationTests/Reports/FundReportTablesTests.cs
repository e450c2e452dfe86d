using System.Text.Json;
using CompensationLedger.Cases;
using CompensationLedger.Demo;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using CompensationLedger.Reports;
using Marten;
using TrialBalance = CompensationLedger.Reports.TrialBalance;
using NodaTime;

namespace CompensationLedger.IntegrationTests.Reports;

/// <summary>
/// The fund reports answer from the report tables; their definitions replay the fund's events. Both must give the same
/// report for every instant: at each event's business time, a nanosecond before and after it (events in the same second,
/// the same millisecond, the same nanosecond), with an event whose business time is earlier than events already posted
/// (a clock set back), and for periods that start or end between events.
/// </summary>
public sealed class FundReportTablesTests(LedgerApp app) : IntegrationTest(app)
{
    internal static readonly Guid FundId = Guid.Parse("0195a2c0-2011-7000-8000-00000000fee1");
    private static readonly Guid General = Guid.Parse("0195a2c0-2011-7000-8000-00000000fee2");
    private static readonly Guid Perpetrator = Guid.Parse("0195a2c0-2011-7000-8000-00000000fee3");
    private static readonly JsonSerializerOptions Json = Options();

    [Fact]
    public async Task the_report_tables_answer_what_a_replay_of_the_events_answers_at_every_instant()
    {
        await Scenario(App);
        await ReportsShouldAnswerWhatTheEventsAnswer();

        // And what the figures are, now: the late deposit counts, the returned payout is back in its pool and out again reissued.
        await using var reader = App.Store.QuerySession();
        var now = (await TrialBalance.LoadAsync(reader, FundId, null, CancellationToken.None))!;
        now.Balances.ShouldBeTrue();
        now.TotalDebits.ShouldBe(Money.Of(3_800m, "USD"));
    }

    /// <summary>
    /// A bank statement settling several payouts and returning several, recorded with the clock set back before the release of the
    /// payouts and deposits already posted: the projection writes such runs set-based (PayoutRuns), and its rows must be what the
    /// events applied one by one write, and every report what the replay answers.
    /// </summary>
    [Fact]
    public async Task a_statement_settling_and_returning_many_payouts_with_the_clock_set_back_posts_what_its_events_one_by_one_post()
    {
        await Scenario(App);
        var t0 = LedgerApp.Start;
        FraudCase fraudCase;
        await using (var query = App.Store.QuerySession()) fraudCase = (await query.LoadAsync<FraudCase>(PutianDemo.CaseId))!;
        var supplier = fraudCase.SupplierAccounts[0];
        for (var i = 0; i < 7; i++)
        {
            var reference = $"CL-2011-{i + 11:D6}";
            await Decide(App, t0 + Duration.FromDays(3), (f, now) => RecordEntitlementHandler.Decide(f, new RecordEntitlement(FundId, Guid.CreateVersion7(), reference, fraudCase.Id,
                supplier.Platform, "someone-else", "GB", Money.Of(100m + i, "USD"), "claims.approver"), now));
        }
        await Decide(App, t0 + Duration.FromDays(3), (f, now) => PrepareRoundEndpoint.Decide(f, Guid.CreateVersion7(), "fiona", now));
        await Decide(App, t0 + Duration.FromDays(3) + Duration.FromSeconds(1), (f, now) =>
            ReleaseRoundEndpoint.Decide(f, f.Rounds.Values.Single(r => r.Status == RoundStatus.Prepared).Id, Guid.CreateVersion7, "frank", now));
        Payout Of(Fund f, int claim) => f.Payouts.Values.Single(p => p.ClaimReferences.Contains($"CL-2011-{claim:D6}"));

        // Stamped a day and a half before the release (and before the deposit of day 2): every posting of the statement lands before rows
        // already posted to the same accounts. Settled 11-13, returned 14-15, settled 16, returned 17: runs of three, two and one each.
        await Decide(App, t0 + Duration.FromDays(1) + Duration.FromHours(12), (f, now) =>
        {
            var lines = new[] { (11, StatementDirection.Debit), (12, StatementDirection.Debit), (13, StatementDirection.Debit), (14, StatementDirection.Credit),
                (15, StatementDirection.Credit), (16, StatementDirection.Debit), (17, StatementDirection.Credit) }
                .Select((l, n) => new StatementLine(n + 1, new LocalDate(2011, 4, 14), Of(f, l.Item1).Reference, Of(f, l.Item1).Amount, l.Item2)).ToList();
            return ImportBankStatementEndpoint.Decide(f, lines, "fiona", now);
        });

        IReadOnlyList<JasperFx.Events.IEvent> events;
        await using (var reader = App.Store.QuerySession()) events = await reader.Events.FetchStreamAsync(FundId);
        var statement = events.Last();
        statement.Data.ShouldBeOfType<PayoutReturned>();
        events.Count(e => e.Version > events.Single(x => x.Data is BankStatementImported b && b.Lines.Count == 7).Version).ShouldBe(7);
        PayoutRuns.Split([.. events.TakeLast(7)], e => [e.Id]).Select(p => (p.Events.Count, p.IsRun)).ShouldBe([(3, true), (2, true), (1, false), (1, false)]);

        var inline = await Tables();
        await ReportsShouldAnswerWhatTheEventsAnswer();
        (await Count($"select count(*) from {LedgerSetup.Schema}.{FundReportProjection.PayoutsTable} where settled_at_ns is not null")).ShouldBe(6);
        (await Count($"select count(*) from {LedgerSetup.Schema}.{FundReportProjection.PayoutsTable} where returned_at_ns is not null")).ShouldBe(4);

        // The same events applied one by one (each in its own transaction, through the per-event statements) write the same rows.
        await EmptyTables();
        var projection = new FundReportProjection(LedgerSetup.Schema);
        foreach (var e in events) await ProjectOne(projection, e);
        (await Tables()).ShouldBe(inline);
    }

    /// <summary>
    /// The payout views read each payout from its row (PayoutViews), never the fund's document: every payout, and every page of the
    /// list by fund and by status, must be what the fund's fold makes of the same events (settled, returned, reissued, a reissue
    /// prepared, withdrawn and prepared again, another waiting for approval), whether the rows were written inline, one event at a
    /// time, or by the rebuild, and whether or not they were filled by migration 0013 from the fund's document.
    /// </summary>
    [Fact]
    public async Task the_payout_views_read_from_the_payout_rows_show_what_the_fund_s_fold_makes_of_the_events()
    {
        await Scenario(App);
        Payout Of(Fund f, string claim) => f.Payouts.Values.Where(p => p.ClaimReferences.Contains(claim)).OrderBy(p => p.IssuedAt).Last();
        var t = LedgerApp.Start + Duration.FromDays(3);
        // The third payout (still in transit: the statement showed it with another amount) comes back; a reissue is prepared and withdrawn,
        // then prepared again and left waiting. The reissued second payout's new payout settles a moment later.
        await Decide(App, t, (f, now) => ReturnPayoutEndpoint.Decide(f, Of(f, "CL-2011-000003").Id, new RecordPayoutReturn("wrong beneficiary name"), "frank", now));
        await Decide(App, t + Duration.FromSeconds(1), (f, now) => ReissuePayoutEndpoint.Decide(f, Of(f, "CL-2011-000003").Id,
            new ReissuePayout(new BankDetails("Buyer Three", "DE89370400440532013000", "Commerzbank", "COBADEFFXXX", "DE")), "fiona", now));
        await Decide(App, t + Duration.FromSeconds(2), (f, now) => WithdrawReissueEndpoint.Decide(f, Of(f, "CL-2011-000003").Id, new WithdrawReissue("typo in the name"), "frank", now));
        await Decide(App, t + Duration.FromSeconds(3), (f, now) => ReissuePayoutEndpoint.Decide(f, Of(f, "CL-2011-000003").Id,
            new ReissuePayout(new BankDetails("Buyer Three GmbH", "DE89370400440532013000")), "fiona", now));

        await PayoutViewsShouldShowTheFold("inline");
        var inline = await Tables();

        // One event at a time, through each event's own statements.
        await EmptyTables();
        IReadOnlyList<JasperFx.Events.IEvent> events;
        await using (var reader = App.Store.QuerySession()) events = await reader.Events.FetchStreamAsync(FundId);
        var projection = new FundReportProjection(LedgerSetup.Schema);
        foreach (var e in events) await ProjectOne(projection, e);
        (await Tables()).ShouldBe(inline);

        // The rebuild's fold.
        await FundReportsRebuild.RunAsync(App.Store, null, CancellationToken.None);
        (await Tables()).ShouldBe(inline);
        await PayoutViewsShouldShowTheFold("rebuilt");

        // Filled by the migration from the fund's document (its last statement), after rows written without the columns (the document
        // still holds the payouts: the decisions above wrote it before it stopped keeping them, as in a database upgraded from then).
        await CompensationLedger.IntegrationTests.Funds.OlderFundSnapshots.PutPayoutsBackAsync(App.Store, FundId);
        await using (var session = App.Store.LightweightSession())
        {
            session.QueueSqlCommand($"update {LedgerSetup.Schema}.{FundReportProjection.PayoutsTable} set issued = null, status = null, reissued_as = null, pending_reissue = null");
            await session.SaveChangesAsync();
        }
        var migration = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "migrations", "0013_payout_views.sql"));
        await using (var session = App.Store.LightweightSession())
        {
            session.QueueSqlCommand(migration[migration.LastIndexOf("UPDATE ledger.report_payouts", StringComparison.Ordinal)..].TrimEnd().TrimEnd(';'));
            await session.SaveChangesAsync();
        }
        await PayoutViewsShouldShowTheFold("filled by the migration");
        (await Count($"select count(*) from {LedgerSetup.Schema}.{FundReportProjection.PayoutsTable} where issued is null or status is null")).ShouldBe(0);

        // The register's day totals filled by migrations/0014 from the payout rows are the ones the projection keeps.
        async Task<IReadOnlyList<string>> DayRows()
        {
            await using var query = App.Store.QuerySession();
            return await query.QueryAsync<string>($"select t::text from {LedgerSetup.Schema}.{FundReportProjection.PayoutDaysTable} t order by t::text");
        }
        var kept = await DayRows();
        kept.Count.ShouldBeGreaterThan(1);
        var days = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "migrations", "0014_payout_register_days.sql"));
        await using (var session = App.Store.LightweightSession())
        {
            session.QueueSqlCommand($"delete from {LedgerSetup.Schema}.{FundReportProjection.PayoutDaysTable}");
            session.QueueSqlCommand(days[days.LastIndexOf("insert into ledger.report_payout_days", StringComparison.Ordinal)..].TrimEnd().TrimEnd(';'));
            await session.SaveChangesAsync();
        }
        (await DayRows()).ShouldBe(kept);

        // Outside Production, a database whose day totals are empty (Marten created the table on start) is filled on start.
        await using (var session = App.Store.LightweightSession())
        {
            session.QueueSqlCommand($"delete from {LedgerSetup.Schema}.{FundReportProjection.PayoutDaysTable}");
            await session.SaveChangesAsync();
        }
        var fill = new ReportFillsOnStart(App.Store, Microsoft.Extensions.Logging.Abstractions.NullLogger<ReportFillsOnStart>.Instance);
        await fill.StartAsync(CancellationToken.None);
        (await DayRows()).ShouldBe(kept);
        await fill.StartAsync(CancellationToken.None); // and only then: a filled table is left as it is
        (await DayRows()).ShouldBe(kept);
    }

    /// <summary>
    /// A round released before payouts were per buyer: one payout per claim, with the claim and its per-pool lines and no claim
    /// lines (the events and snapshots of that time are read as they are). The fund view counts such a round's allocations from
    /// the payouts' per-pool lines in SQL; every view must still be what the whole snapshot shows.
    /// </summary>
    [Fact]
    public async Task the_views_show_a_round_released_with_one_payout_per_claim_as_the_whole_snapshot_does()
    {
        await Scenario(App);
        var t = LedgerApp.Start + Duration.FromDays(4);
        FraudCase fraudCase;
        await using (var query = App.Store.QuerySession()) fraudCase = (await query.LoadAsync<FraudCase>(PutianDemo.CaseId))!;
        var supplier = fraudCase.SupplierAccounts[0];
        // The perpetrator pool covers part of the first claim, the general pool the rest: a payout of two lines.
        await Decide(App, t, (f, now) => DepositToPoolEndpoint.Decide(f, Perpetrator, new DepositToPool(Money.Of(100m, "USD"), "FORFEIT-OLD-SHAPE", new LocalDate(2011, 4, 20)), "fiona", now));
        foreach (var (reference, amount, against) in new[] { ("CL-2011-000021", 400m, true), ("CL-2011-000022", 250m, false) })
            await Decide(App, t, (f, now) => RecordEntitlementHandler.Decide(f, new RecordEntitlement(FundId, Guid.CreateVersion7(), reference, fraudCase.Id, supplier.Platform,
                against ? supplier.AccountId : "someone-else", "GB", Money.Of(amount, "USD"), "claims.approver"), now));
        var roundId = Guid.CreateVersion7();
        await Decide(App, t + Duration.FromSeconds(1), (f, now) => PrepareRoundEndpoint.Decide(f, roundId, "fiona", now));
        await Decide(App, t + Duration.FromSeconds(2), (f, now) =>
        {
            var payouts = f.Rounds[roundId].Allocations.GroupBy(a => (a.ClaimId, a.ClaimReference)).Select((claim, n) =>
            {
                var lines = claim.Select(a => new PoolAmount(a.PoolId, a.Amount)).ToArray();
                return new PayoutIssued(Guid.CreateVersion7(), $"PO-OLD-{n + 1:D5}", claim.Key.ClaimId, claim.Key.ClaimReference, lines,
                    Money.Of(lines.Sum(l => l.Amount.Amount), "USD"));
            }).ToArray();
            return Decision.Accept(new RoundReleased(FundId, roundId, payouts, "frank", now));
        });

        await using var reader = App.Store.QuerySession();
        var fund = (await reader.Events.AggregateStreamAsync<Fund>(FundId))!;
        var round = fund.Rounds[roundId];
        round.PayoutIds.Select(id => fund.Payouts[id]).ShouldAllBe(p => p.ClaimId != null && p.ClaimLines == null, "payouts of one claim each, old shape");
        fund.AllocationsOf(round).Count.ShouldBeGreaterThan(round.PayoutIds.Count, "a claim paid from two pools");
        var now = t + Duration.FromDays(1);
        Same(await FundDocumentViews.FundAsync(reader, FundId, now, CancellationToken.None), FundView.From(fund, now), "the fund");
        foreach (var r in fund.Rounds.Values)
            Same(await FundDocumentViews.RoundAsync(reader, r.Id, CancellationToken.None), RoundView.From(fund, r), $"round {r.Number}");
        foreach (var payout in fund.Payouts.Values)
            Same(await PayoutViews.OneAsync(reader, payout.Id, CancellationToken.None), PayoutView.From(fund, payout), $"payout {payout.Reference}");

        // A snapshot from before released rounds kept their total and count: the fund view sums them from the payout rows.
        fund.Rounds.Values.Where(r => r.Status == RoundStatus.Released).ShouldAllBe(r => r.ReleasedTotal != null && r.ReleasedAllocations != null);
        await using (var session = App.Store.LightweightSession())
        {
            var table = App.Store.Options.FindOrResolveDocumentType(typeof(Fund)).TableName.QualifiedName;
            foreach (var r in fund.Rounds.Values.Where(r => r.Status == RoundStatus.Released))
                session.QueueSqlCommand($"update {table} set data = data #- array['rounds', ?, 'releasedTotal'] #- array['rounds', ?, 'releasedAllocations'] where id = ?",
                    r.Id.ToString(), r.Id.ToString(), FundId);
            await session.SaveChangesAsync();
        }
        await using var older = App.Store.QuerySession();
        (await older.QueryAsync<int>($"select count(*)::int from {LedgerSetup.Schema}.mt_doc_fund where data::text like '%releasedTotal%'")).Single().ShouldBe(0);
        Same(await FundDocumentViews.FundAsync(older, FundId, now, CancellationToken.None), FundView.From(fund, now), "the fund, from a snapshot without the released rounds' totals");
    }

    private async Task PayoutViewsShouldShowTheFold(string because)
    {
        await using var reader = App.Store.QuerySession();
        var fund = (await reader.Events.AggregateStreamAsync<Fund>(FundId))!;
        fund.Payouts.Values.Count(p => p.PendingReissue is not null).ShouldBe(1, because);
        fund.Payouts.Values.Count(p => p.ReissuedAs is not null).ShouldBe(1, because);
        foreach (var payout in fund.Payouts.Values)
            Same(await PayoutViews.OneAsync(reader, payout.Id, CancellationToken.None), PayoutView.From(fund, payout), $"{because}: payout {payout.Reference}");
        (await PayoutViews.OneAsync(reader, Guid.CreateVersion7(), CancellationToken.None)).ShouldBeNull(because);
        foreach (var fundId in new Guid?[] { FundId, null, Guid.CreateVersion7() })
            foreach (var status in new PayoutStatus?[] { null, PayoutStatus.InTransit, PayoutStatus.Settled, PayoutStatus.Returned })
            {
                var all = fund.Payouts.Values.Where(p => fundId is null || fundId == FundId).Where(p => status is null || p.Status == status)
                    .OrderBy(p => p.Reference, StringComparer.Ordinal).Select(p => PayoutView.From(fund, p)).ToList();
                var paged = new List<PayoutView>();
                for (var number = 1; number <= all.Count + 1; number++)
                {
                    var page = await PayoutViews.PageAsync(reader, fundId, status, number, 2, CancellationToken.None);
                    page.TotalCount.ShouldBe(all.Count, because);
                    paged.AddRange(page.Items);
                }
                Same<IReadOnlyList<PayoutView>>(paged, all, $"{because}: fund {fundId?.ToString() ?? "any"}, status {status?.ToString() ?? "any"}");
            }

        // The fund, round and entitlement views from the snapshot without its payouts (and the payout rows) show what the whole one does.
        var now = LedgerApp.Start + Duration.FromDays(10);
        fund.Rounds.Values.ShouldContain(r => r.Status == RoundStatus.Released && r.Allocations.Count == 0, because);
        Same(await FundDocumentViews.FundAsync(reader, FundId, now, CancellationToken.None), FundView.From(fund, now), $"{because}: the fund");
        (await FundDocumentViews.FundAsync(reader, Guid.CreateVersion7(), now, CancellationToken.None)).ShouldBeNull(because);
        foreach (var round in fund.Rounds.Values)
            Same(await FundDocumentViews.RoundAsync(reader, round.Id, CancellationToken.None), RoundView.From(fund, round), $"{because}: round {round.Number}");
        (await FundDocumentViews.RoundAsync(reader, Guid.CreateVersion7(), CancellationToken.None)).ShouldBeNull(because);
        await FundEntitlementRowsTests.EntitlementPagesShouldBeTheFold(reader, fund, now, because);
    }

    private async Task<long> Count(string sql)
    {
        await using var session = App.Store.QuerySession();
        return (await session.QueryAsync<long>(sql)).Single();
    }

    private async Task EmptyTables()
    {
        await using var session = App.Store.LightweightSession();
        foreach (var table in FundReportProjection.Tables) session.QueueSqlCommand($"delete from {LedgerSetup.Schema}.{table}");
        await session.SaveChangesAsync();
    }

    /// <summary>One event through its <c>Project</c> method, in a transaction of its own (nothing for an event the projection ignores).</summary>
    private Task ProjectOne(FundReportProjection projection, JasperFx.Events.IEvent e) => ProjectOne(App, projection, e);

    /// <inheritdoc cref="ProjectOne(FundReportProjection, JasperFx.Events.IEvent)"/>
    internal static async Task ProjectOne(LedgerApp app, FundReportProjection projection, JasperFx.Events.IEvent e)
    {
        var handled = typeof(FundReportProjection).GetMethods().Any(m => m.Name == "Project" && m.GetParameters()[0].ParameterType == typeof(JasperFx.Events.IEvent<>).MakeGenericType(e.EventType));
        if (!handled) return;
        await using var session = app.Store.LightweightSession();
        projection.Project((dynamic)e, session);
        await session.SaveChangesAsync();
    }

    /// <summary>Every fund report from the tables against its definition over the replayed events, at every instant around an event and now.</summary>
    private async Task ReportsShouldAnswerWhatTheEventsAnswer()
    {
        var ns = Duration.FromNanoseconds(1);
        await using var reader = App.Store.QuerySession();
        var events = (await reader.Events.FetchStreamAsync(FundId)).Select(e => e.Data).ToList();
        var fund = Fund.Replay(events);
        var statements = events.OfType<BankStatementImported>().ToList();
        var instants = events.Select(Fund.OccurredAt).Distinct().SelectMany(t => new[] { t - ns, t, t + ns }).Distinct().OrderBy(t => t)
            .Select(t => (Instant?)t).Append(null).ToList();
        LocalDate[][] periods = [[new(2011, 4, 1), new(2011, 4, 30)], [new(2011, 4, 11), new(2011, 4, 11)], [new(2011, 4, 12), new(2011, 4, 12)], [new(2011, 4, 12), new(2011, 4, 30)]];
        var checkedReports = 0;
        foreach (var asOf in instants)
        {
            var because = $"as of {asOf?.ToString() ?? "now"}";
            Same(await TrialBalance.LoadAsync(reader, FundId, asOf, CancellationToken.None), TrialBalance.FromEvents(fund, events, asOf), because);
            foreach (var period in periods)
                Same(await FundStatement.LoadAsync(reader, FundId, period[0], period[1], asOf, CancellationToken.None),
                    FundStatement.FromEvents(fund, events, period[0], period[1], asOf), $"{because}, {period[0]}..{period[1]}");
            Same(await PayoutRegister.LoadAsync(reader, FundId, null, null, asOf, CancellationToken.None), PayoutRegister.FromFunds([fund], null, null, asOf), because);
            Same(await PayoutRegister.LoadAsync(reader, null, new LocalDate(2011, 4, 12), new LocalDate(2011, 4, 12), asOf, CancellationToken.None),
                PayoutRegister.FromFunds([fund], new LocalDate(2011, 4, 12), new LocalDate(2011, 4, 12), asOf), because);
            var whole = PayoutRegister.FromFunds([fund], null, null, asOf);
            var paged = new List<PayoutRegisterLine>();
            for (var number = 1; number <= whole.Payouts.Count + 1; number++)
            {
                var page = await PayoutRegister.LoadAsync(reader, FundId, null, null, asOf, CancellationToken.None, new RegisterPage(number, 1));
                Same(page with { Payouts = [], Page = 1, PageSize = whole.TotalPayouts }, whole with { Payouts = [] }, $"{because}, page {number}");
                paged.AddRange(page.Payouts);
            }
            Same<IReadOnlyList<PayoutRegisterLine>>(paged, whole.Payouts, $"{because}, pages together");
            var at = asOf ?? Instant.MaxValue;
            foreach (var statement in statements)
            {
                var imported = await Reconciliation.StatementAsync(reader, statement.StatementId, at, CancellationToken.None);
                (imported is null).ShouldBe(statement.ImportedAt > at, because);
                if (imported is not null)
                    Same(Reconciliation.Build(imported, await Reconciliation.InTransitAsync(reader, imported, at, CancellationToken.None), at),
                        Reconciliation.Build(statement, fund.Payouts.Values, at), $"{because}, statement {statement.StatementId}");
            }
            checkedReports++;
        }
        checkedReports.ShouldBeGreaterThan(20);
    }

    [Fact]
    public async Task every_write_of_the_report_projection_is_idempotent_so_a_rebuild_racing_live_events_ends_with_the_same_tables()
    {
        await Scenario(App);
        var expected = await Tables();

        // A rebuild that started from empty tables and replays the stream in order, while the second half of the events
        // arrive live first (their rows written before the earlier ones exist), and each event is applied twice.
        await EmptyTables();
        IReadOnlyList<JasperFx.Events.IEvent> events;
        await using (var reader = App.Store.QuerySession()) events = await reader.Events.FetchStreamAsync(FundId);
        var projection = new FundReportProjection(LedgerSetup.Schema);
        foreach (var batch in new[] { events.Skip(events.Count / 2), events, events })
            foreach (var e in batch)
                await ProjectOne(projection, e);

        (await Tables()).ShouldBe(expected);
    }

    /// <summary>Every row of every report table, as text, in a stable order.</summary>
    private async Task<string[]> Tables()
    {
        await using var session = App.Store.QuerySession();
        var rows = new List<string>();
        foreach (var table in FundReportProjection.Tables)
            rows.AddRange(await session.QueryAsync<string>($"select '{table}: ' || t::text from {LedgerSetup.Schema}.{table} t order by t::text"));
        rows.Count.ShouldBeGreaterThan(20);
        return [.. rows];
    }

    /// <summary>
    /// A fund whose events fall in the same second, millisecond and nanosecond, with a round cancelled, a payout settled,
    /// one returned and reissued, a bank statement, and a deposit recorded with a clock set back an hour. Returns the statement's id.
    /// </summary>
    internal static async Task<string> Scenario(LedgerApp app)
    {
        await PutianDemo.SeedAsync(app.Store, app.Clock);
        FraudCase fraudCase;
        await using (var query = app.Store.QuerySession()) fraudCase = (await query.LoadAsync<FraudCase>(PutianDemo.CaseId))!;
        var supplier = fraudCase.SupplierAccounts[0];
        var t0 = LedgerApp.Start;
        var ns = Duration.FromNanoseconds(1);

        await using (var session = app.Store.LightweightSession())
        {
            session.Events.StartStream<Fund>(FundId, EstablishFundEndpoint.Decide(FundId, new EstablishFund("Test Fund", "Sponsor", "USD", PutianDemo.Platforms,
                new PolicyTerms(new LocalDate(2011, 2, 21), 0.70m, Money.Of(1_000m, "USD"), Money.Of(0m, "USD"), 90, 30, 60, GeneralPoolBacksPerpetratorPools: true)), "fiona", t0));
            await session.SaveChangesAsync();
        }
        await Decide(app, t0, (f, now) => OpenPoolEndpoint.Decide(f, General, new OpenPool(PoolKind.General, "General pool"), null, "fiona", now));
        await Decide(app, t0, (f, now) => DepositToPoolEndpoint.Decide(f, General, new DepositToPool(Money.Of(3_000m, "USD"), "SPONSOR-1", new LocalDate(2011, 4, 1)), "fiona", now));
        await Decide(app, t0, (f, now) => OpenPoolEndpoint.Decide(f, Perpetrator, new OpenPool(PoolKind.Perpetrator, "Forfeited fees", fraudCase.Id, supplier.Platform, supplier.AccountId),
            fraudCase, "fiona", now));
        await Decide(app, t0, (f, now) => DepositToPoolEndpoint.Decide(f, Perpetrator, new DepositToPool(Money.Of(500m, "USD"), "FORFEIT-1", new LocalDate(2011, 4, 1)), "fiona", now));
        var claims = new (decimal Amount, bool AgainstPerpetrator)[] { (980m, true), (700m, true), (500.50m, false), (300m, false) };
        for (var i = 0; i < claims.Length; i++)
        {
            var (amount, against) = claims[i];
            var reference = $"CL-2011-{i + 1:D6}";
            await Decide(app, t0, (f, now) => RecordEntitlementHandler.Decide(f, new RecordEntitlement(FundId, Guid.CreateVersion7(), reference, fraudCase.Id, supplier.Platform,
                against ? supplier.AccountId : "someone-else", "GB", Money.Of(amount, "USD"), "claims.approver"), now));
        }

        // A round prepared and cancelled in the same nanosecond, another prepared a millisecond later and released a nanosecond after that.
        await Decide(app, t0 + ns, (f, now) => PrepareRoundEndpoint.Decide(f, Guid.CreateVersion7(), "fiona", now));
        await Decide(app, t0 + ns, (f, now) => CancelRoundEndpoint.Decide(f, f.Rounds.Values.Single().Id, new CancelRound("wrong pools"), "frank", now));
        await Decide(app, t0 + Duration.FromMilliseconds(2), (f, now) => PrepareRoundEndpoint.Decide(f, Guid.CreateVersion7(), "fiona", now));
        await Decide(app, t0 + Duration.FromMilliseconds(2) + ns, (f, now) =>
            ReleaseRoundEndpoint.Decide(f, f.Rounds.Values.Single(r => r.Status == RoundStatus.Prepared).Id, Guid.CreateVersion7, "frank", now));
        Payout PayoutOf(Fund f, string claim) => f.Payouts.Values.Where(p => p.ClaimReferences.Contains(claim)).OrderBy(p => p.IssuedAt).Last();

        // Settled and returned in the same second, half a second apart; the returned one reissued the next day.
        await Decide(app, t0 + Duration.FromSeconds(1), (f, now) => SettlePayoutEndpoint.Decide(f, PayoutOf(f, "CL-2011-000001").Id, new RecordPayoutSettlement("BANK-1"), "frank", now));
        await Decide(app, t0 + Duration.FromMilliseconds(1_500), (f, now) =>
            ReturnPayoutEndpoint.Decide(f, PayoutOf(f, "CL-2011-000002").Id, new RecordPayoutReturn("account closed"), "frank", now));
        await Decide(app, t0 + Duration.FromDays(1), (f, now) => ReissuePayoutEndpoint.Decide(f, PayoutOf(f, "CL-2011-000002").Id,
            new ReissuePayout(new BankDetails("Buyer Two", "GB29NWBK60161331926819")), "fiona", now));
        await Decide(app, t0 + Duration.FromDays(1) + Duration.FromMilliseconds(250), (f, now) =>
            ApproveReissueEndpoint.Decide(f, PayoutOf(f, "CL-2011-000002").Id, Guid.CreateVersion7(), "frank", now));

        // The bank statement settles the reissued payout, shows the third with another amount and a fee nobody booked.
        string statementId = "";
        await Decide(app, t0 + Duration.FromDays(1) + Duration.FromMilliseconds(500), (f, now) =>
        {
            var lines = new List<StatementLine>
            {
                new(2, new LocalDate(2011, 4, 12), PayoutOf(f, "CL-2011-000002").Reference, PayoutOf(f, "CL-2011-000002").Amount, StatementDirection.Debit),
                new(3, new LocalDate(2011, 4, 12), PayoutOf(f, "CL-2011-000003").Reference, Money.Of(450m, "USD"), StatementDirection.Debit),
                new(4, new LocalDate(2011, 4, 12), "FEE-APRIL", Money.Of(25m, "USD"), StatementDirection.Debit),
            };
            statementId = ImportBankStatementEndpoint.StatementId(lines);
            return ImportBankStatementEndpoint.Decide(f, lines, "fiona", now);
        });

        // A deposit recorded with a clock set an hour back (earlier than everything but the fund), then one two days on.
        await Decide(app, t0 - Duration.FromHours(1), (f, now) => DepositToPoolEndpoint.Decide(f, General, new DepositToPool(Money.Of(100m, "USD"), "LATE-1", new LocalDate(2011, 4, 11)), "fiona", now));
        await Decide(app, t0 + Duration.FromDays(2), (f, now) => DepositToPoolEndpoint.Decide(f, Perpetrator, new DepositToPool(Money.Of(200m, "USD"), "FORFEIT-2", new LocalDate(2011, 4, 13)), "fiona", now));

        return statementId;
    }

    internal static async Task Decide(LedgerApp app, Instant at, Func<Fund, Instant, Decision> decide, Guid? fundId = null)
    {
        await using var session = app.Store.LightweightSession();
        var stream = await session.Events.FetchForWriting<Fund>(fundId ?? FundId);
        // The whole fund as its events make it (the snapshot keeps no payouts), at the version the stream was read at.
        var whole = (await session.Events.AggregateStreamAsync<Fund>(fundId ?? FundId, version: stream.CurrentVersion ?? 0))!;
        var decision = decide(whole, at);
        if (decision.Refusal is { } refusal) throw new InvalidOperationException($"{refusal.Code}: {refusal.Detail}");
        stream.AppendMany(decision.Events);
        await session.SaveChangesAsync();
    }

    private static void Same<T>(T? fromTables, T fromEvents, string because) =>
        JsonSerializer.Serialize(fromTables, Json).ShouldBe(JsonSerializer.Serialize(fromEvents, Json), because);

    private static JsonSerializerOptions Options()
    {
        var options = new JsonSerializerOptions();
        LedgerSetup.ConfigureApiJson(options);
        return options;
    }
}
