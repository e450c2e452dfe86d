using Microsoft.Extensions.DependencyInjection;
using CompensationLedger.Cases;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using CompensationLedger.Reports;
using Marten;
using Microsoft.Extensions.Logging.Abstractions;
using NodaTime;
using static CompensationLedger.Reports.FundReportProjection;

namespace CompensationLedger.IntegrationTests.Reports;

/// <summary>
/// The entitlement rows (<c>fund_entitlements</c>) against the fund's fold of the same events (<see cref="Fund.Entitlements"/>, aggregated
/// live from the stream, not the snapshot, which will soon not hold them): after every decision of a fund whose buyers have several claims,
/// one of them appealed, one recorded before buyers were known; a round cancelled and one released, from two pools; settlements and returns
/// one at a time and as runs of a bank statement; a reissue. Then whatever wrote the rows (the projection inline or one event at a time,
/// the rebuild, Marten's daemon, the migration's fill or the fill on start) and whichever reader reads them.
/// </summary>
public sealed class FundEntitlementRowsTests(LedgerApp app) : IntegrationTest(app)
{
    private static readonly Guid FundId = FundReportTablesTests.FundId;
    private static readonly Guid Perpetrator = Guid.Parse("0195a2c0-2011-7000-8000-00000000fee3");

    [Fact]
    public async Task the_entitlement_rows_are_what_the_fund_s_fold_makes_of_its_events_after_every_decision()
    {
        await Scenario(checkAfterEachDecision: true);

        // What the scenario was meant to cover is there in the end.
        var fold = await Fold();
        fold.Values.ShouldContain(e => e.BuyerKey == null, "a claim recorded without a buyer key");
        fold.Values.Where(e => e.BuyerKey != null).GroupBy(e => e.BuyerKey).ShouldContain(g => g.Count() >= 2, "buyers with several claims");
        fold.Values.ShouldContain(e => e.InTransit > 0, "money in transit");
        fold.Values.ShouldContain(e => e.Settled > 0 && e.InTransit == 0, "claims settled");
        fold.Values.ShouldContain(e => e.Committed < e.Amount, "money still owed after a return");
    }

    [Fact]
    public async Task every_writer_of_the_rows_writes_the_projection_s_rows_and_every_reader_reads_the_fold_s_entitlements()
    {
        await Scenario(checkAfterEachDecision: false);
        var inline = await Rows();
        var inlineRows = await RowRecords();
        inline.Length.ShouldBe((await Fold()).Count);

        // One event at a time, each through its own statements in its own transaction (no runs), and each applied twice: the same rows.
        IReadOnlyList<JasperFx.Events.IEvent> events;
        await using (var reader = App.Store.QuerySession()) events = await reader.Events.FetchStreamAsync(FundId);
        await Execute($"delete from {LedgerSetup.Schema}.{EntitlementsTable}");
        var projection = new FundReportProjection(LedgerSetup.Schema);
        foreach (var e in events.Concat(events)) await ProjectOne(projection, e);
        (await Rows()).ShouldBe(inline);

        // The rebuild's fold, and Marten's daemon replaying the projection.
        await FundReportsRebuild.RunAsync(App.Store, null, CancellationToken.None);
        (await Rows()).ShouldBe(inline);
        using (var daemon = await App.Store.BuildProjectionDaemonAsync())
            await daemon.RebuildProjectionAsync(ProjectionName, TimeSpan.FromMinutes(1), CancellationToken.None);
        (await Rows()).ShouldBe(inline);

        // The migration's fill from the fund's snapshot: the same entitlements (amounts equal as decimals: the snapshot leaves zeros out,
        // so an allocation that went back to 0.00 reads back as 0), each with the snapshot's version, the fund's last event.
        var migration = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "migrations", "0015_fund_entitlements.sql"));
        var fill = migration[migration.LastIndexOf("insert into ledger.fund_entitlements", StringComparison.Ordinal)..].TrimEnd().TrimEnd(';');
        fill.ShouldBe(ReportFills.EntitlementsFromSnapshotsSql(LedgerSetup.Schema), "the migration and the fill on start run the same statement");
        // It reads the snapshots of its time, which held every entitlement and payout.
        await CompensationLedger.IntegrationTests.Funds.OlderFundSnapshots.PutEntitlementsAndPayoutsBackAsync(App.Store);
        await Execute($"delete from {LedgerSetup.Schema}.{EntitlementsTable}");
        await Execute(fill);
        await FilledRowsShouldBe(inlineRows, events[^1].Version, "filled by the migration");
        await ReadersShouldReadTheFold("filled by the migration");

        // Outside Production, the fill on start: an empty table is filled from the snapshots, a filled one is left alone.
        var onStart = new ReportFillsOnStart(App.Store, NullLogger<ReportFillsOnStart>.Instance);
        await Execute($"delete from {LedgerSetup.Schema}.{EntitlementsTable}");
        await onStart.StartAsync(CancellationToken.None);
        await FilledRowsShouldBe(inlineRows, events[^1].Version, "filled on start");
        await Execute($"update {LedgerSetup.Schema}.{EntitlementsTable} set version = -1 where claim_id = (select claim_id from {LedgerSetup.Schema}.{EntitlementsTable} order by claim_id limit 1)");
        await onStart.StartAsync(CancellationToken.None);
        (await Count($"select count(*) from {LedgerSetup.Schema}.{EntitlementsTable} where version = -1")).ShouldBe(1, "a filled table is left as it is");
        await Execute($"update {LedgerSetup.Schema}.{EntitlementsTable} set version = {events[^1].Version} where version = -1");

        // A later event applies on top of filled rows (their version is the snapshot's): the rows are the fold's again.
        await FundReportTablesTests.Decide(App, LedgerApp.Start + Duration.FromDays(9), (f, now) =>
            SettlePayoutEndpoint.Decide(f, f.Payouts.Values.First(p => p.Status == PayoutStatus.InTransit).Id, new RecordPayoutSettlement("BANK-AFTER-FILL"), "frank", now));
        await RowsShouldBeTheFold("an event after the fill");
    }

    [Fact]
    public async Task the_fill_on_start_fills_the_payout_views_of_rows_written_before_them_as_migration_0013_does()
    {
        await Scenario(checkAfterEachDecision: false);
        Dictionary<Guid, string> Views(IEnumerable<PayoutView?> views) => views.ToDictionary(v => v!.Id, v => System.Text.Json.JsonSerializer.Serialize(v, LedgerApp.Json));
        IReadOnlyList<Guid> payoutIds;
        await using (var reader = App.Store.QuerySession())
            payoutIds = await reader.QueryAsync<Guid>($"select payout_id from {LedgerSetup.Schema}.{PayoutsTable}");
        payoutIds.Count.ShouldBeGreaterThan(5);
        async Task<Dictionary<Guid, string>> Read()
        {
            await using var reader = App.Store.QuerySession();
            return Views(await Task.WhenAll(payoutIds.Select(id => PayoutViews.OneAsync(reader, id, CancellationToken.None))));
        }
        var expected = await Read();

        var migration = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "migrations", "0013_payout_views.sql"));
        migration[migration.LastIndexOf("UPDATE ledger.report_payouts", StringComparison.Ordinal)..].TrimEnd().TrimEnd(';')
            .ShouldBe(ReportFills.PayoutViewsFromSnapshotsSql(LedgerSetup.Schema), "the fill on start runs migration 0013's fill");
        await CompensationLedger.IntegrationTests.Funds.OlderFundSnapshots.PutPayoutsBackAsync(App.Store);
        await Execute($"update {LedgerSetup.Schema}.{PayoutsTable} set issued = null, status = null, reissued_as = null, pending_reissue = null");
        await new ReportFillsOnStart(App.Store, NullLogger<ReportFillsOnStart>.Instance).StartAsync(CancellationToken.None);
        (await Count($"select count(*) from {LedgerSetup.Schema}.{PayoutsTable} where issued is null or status is null")).ShouldBe(0);
        (await Read()).ShouldBe(expected);
    }

    /// <summary>
    /// Outside Production the fills run on start after Marten's schema changes and before Wolverine starts: a message left in the
    /// durable inbox must not write to a fund (dropping the entitlements from its snapshot) before they are filled from it.
    /// </summary>
    [Fact]
    public void the_fills_on_start_run_before_wolverine_processes_messages()
    {
        var started = App.Host.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().Select(s => s.GetType()).ToList();
        var fills = started.IndexOf(typeof(ReportFillsOnStart));
        fills.ShouldBeGreaterThanOrEqualTo(0);
        var wolverine = started.FindIndex(t => t.Namespace?.StartsWith("Wolverine", StringComparison.Ordinal) == true);
        wolverine.ShouldBeGreaterThan(fills, string.Join(", ", started.Select(t => t.Name)));
    }

    /// <summary>
    /// A decision reads its rows after the snapshot: if another decision committed in between, the rows are newer than the snapshot,
    /// and the decision is a concurrent change (what its append would be) instead of a decision, or a refusal, on a mix of the two.
    /// </summary>
    [Fact]
    public async Task rows_read_after_another_decision_committed_make_the_decision_a_concurrent_change()
    {
        await FundReportTablesTests.Scenario(App);
        await using var session = App.Store.LightweightSession();
        var stream = await session.Events.FetchForWriting<Fund>(FundId);
        var read = await FundRows.WithBuyersStillOwedAsync(session, stream.Aggregate!, CancellationToken.None);
        (await FundRows.AtVersionAsync(session, read, stream.CurrentVersion, CancellationToken.None)).ShouldBeSameAs(read, "nothing committed since the snapshot");
        (await FundRows.AtVersionAsync(session, read, null, CancellationToken.None)).ShouldBeSameAs(read, "the snapshot's own version is the stream's");

        await FundReportTablesTests.Decide(App, LedgerApp.Start + Duration.FromDays(9), (f, now) =>
            DepositToPoolEndpoint.Decide(f, f.GeneralPool!.Id, new DepositToPool(Money.Of(1m, "USD"), "RACE-1", new LocalDate(2011, 4, 20)), "fiona", now));

        await Should.ThrowAsync<JasperFx.ConcurrencyException>(() => FundRows.AtVersionAsync(session, read, stream.CurrentVersion, CancellationToken.None));
        await Should.ThrowAsync<JasperFx.ConcurrencyException>(() => FundRows.AtVersionAsync(session, read, null, CancellationToken.None));
    }

    [Fact]
    public async Task the_readers_return_exactly_the_fold_s_entitlements_of_the_fund_of_given_claims_and_of_their_buyers()
    {
        await Scenario(checkAfterEachDecision: false);
        await ReadersShouldReadTheFold("inline");

        // A buyer paid on earlier claims is owed on a new one: a round weighs all of the buyer's claims (the cap), the paid ones too.
        var paid = (await Fold()).Values.Single(e => e.BuyerKey == "buyer-C");
        paid.StillOwed.ShouldBe(0m);
        await FundReportTablesTests.Decide(App, LedgerApp.Start + Duration.FromDays(30), (f, now) => RecordEntitlementHandler.Decide(f,
            new RecordEntitlement(FundId, Guid.CreateVersion7(), "CL-2011-000099", paid.CaseId, paid.Platform, paid.SupplierAccountId, "GB", Money.Of(75m, "USD"),
                "claims.approver", paid.BuyerKey), now));
        await ReadersShouldReadTheFold("a paid buyer owed on a new claim");
        await using var session = App.Store.QuerySession();
        var owed = await EntitlementRows.OfBuyersStillOwedAsync(session, FundId, CancellationToken.None);
        owed.ShouldContainKey(paid.ClaimId, "the buyer's paid claim counts against the cap");
        owed.Values.Single(e => e.ClaimReference == "CL-2011-000099").StillOwed.ShouldBe(75m);
    }

    /// <summary>
    /// The fund view's entitlement totals (summed in SQL) and every page of the entitlement list (paged in SQL, what a round could pay
    /// each claim from its buyer's rows) are what the fund's fold makes of them: without a cap per buyer, and under caps that hold
    /// some buyers back, hold none back, and leave nothing (what a buyer could still be paid is the least of what their claims are
    /// owed and what the cap leaves above what is committed to them).
    /// </summary>
    [Fact]
    public async Task the_fund_view_s_totals_and_the_entitlement_pages_read_from_the_rows_are_the_fold_s_under_every_cap_per_buyer()
    {
        await Scenario(checkAfterEachDecision: false);
        var at = LedgerApp.Start + Duration.FromDays(20);
        var version = 1;
        foreach (var cap in new decimal?[] { null, 350m, 450m, 100_000m, 0.01m })
        {
            if (cap is { } amount)
                await FundReportTablesTests.Decide(App, at, (f, now) => Decision.Accept(new PolicyVersionAdded(FundId,
                    f.Policies[^1] with { Version = f.Policies[^1].Version + 1, EffectiveFrom = now.InUtc().Date, CapPerBuyer = Money.Of(amount, "USD") }, "fiona", now)));
            await using var reader = App.Store.QuerySession();
            var fund = (await reader.Events.AggregateStreamAsync<Fund>(FundId))!;
            var because = cap is null ? "no cap per buyer" : $"a cap per buyer of {cap}";
            if (cap is not null) fund.PolicyInForce(at + Duration.FromDays(1))!.CapPerBuyer.ShouldBe(Money.Of(cap.Value, "USD"), because);
            fund.Entitlements.Values.GroupBy(e => e.Payee).ShouldContain(g => g.Count() > 1, "buyers with several claims");
            var now = at + Duration.FromDays(1);
            (await EntitlementRows.TotalsAsync(reader, fund with { Entitlements = System.Collections.Immutable.ImmutableDictionary<Guid, Entitlement>.Empty }, now, CancellationToken.None)).ShouldBe(EntitlementTotals.Of(fund, now), because);
            SameJson(await FundDocumentViews.FundAsync(reader, FundId, now, CancellationToken.None), FundView.From(fund, now), $"{because}: the fund");
            await EntitlementPagesShouldBeTheFold(reader, fund, now, because);
            version++;
        }
        version.ShouldBe(6);
    }

    /// <summary>Every page of the entitlement list, all of them and those still owed, is the fold's (<see cref="FundViews.ListEntitlements"/>'s definition).</summary>
    internal static async Task EntitlementPagesShouldBeTheFold(IQuerySession reader, Fund fund, Instant now, string because)
    {
        var payable = BuyerCap.PayableNow(fund, now);
        foreach (var stillOwed in new[] { false, true })
        {
            var all = fund.Entitlements.Values.Where(e => !stillOwed || e.StillOwed > 0m).OrderBy(e => e.ClaimReference, StringComparer.Ordinal)
                .Select(e => EntitlementView.From(fund, e, payable)).ToList();
            var paged = new List<EntitlementView>();
            for (var page = 1; page <= all.Count / 3 + 2; page++)
            {
                var list = (await FundDocumentViews.EntitlementsAsync(reader, fund.Id, stillOwed, page, 3, now, CancellationToken.None))!;
                list.TotalCount.ShouldBe(all.Count, because);
                paged.AddRange(list.Items);
            }
            SameJson(paged, all, $"{because}: entitlements{(stillOwed ? " still owed" : "")}");
        }
        (await FundDocumentViews.EntitlementsAsync(reader, Guid.CreateVersion7(), false, 1, 3, now, CancellationToken.None)).ShouldBeNull(because);
    }

    private async Task ReadersShouldReadTheFold(string because)
    {
        var fold = await Fold();
        await using var session = App.Store.QuerySession();
        var ct = CancellationToken.None;
        Same(await EntitlementRows.OfFundAsync(session, FundId, ct), fold, $"{because}: the fund");
        var owedPayees = fold.Values.Where(e => e.StillOwed > 0m).Select(e => e.Payee).ToHashSet();
        var stillOwed = fold.Where(p => owedPayees.Contains(p.Value.Payee)).ToDictionary();
        Same(await EntitlementRows.OfBuyersStillOwedAsync(session, FundId, ct), stillOwed, $"{because}: the buyers still owed");
        (await EntitlementRows.OfBuyersStillOwedAsync(session, Guid.CreateVersion7(), ct)).ShouldBeEmpty(because);
        stillOwed.Count.ShouldBeInRange(1, fold.Count - 1, $"{because}: some claims owed, some paid");
        (await EntitlementRows.OfFundAsync(session, Guid.CreateVersion7(), ct)).ShouldBeEmpty(because);

        var byReference = fold.Values.ToDictionary(e => e.ClaimReference, e => e.ClaimId);
        Guid Claim(int n) => byReference[$"CL-2011-{n:D6}"];
        var unknown = Guid.CreateVersion7();
        Guid[][] asked =
        [
            [], [unknown], [Claim(31)], [Claim(32)], [Claim(35)], [Claim(4)], [Claim(1)], [Claim(31), Claim(33)], [Claim(31), Claim(32), unknown],
            [Claim(35), Claim(36), Claim(1)], [.. fold.Keys],
        ];
        foreach (var claims in asked)
        {
            var set = claims.ToHashSet();
            var text = $"{because}: claims {string.Join(", ", claims.Select(c => fold.TryGetValue(c, out var e) ? e.ClaimReference : "unknown"))}";
            Same(await EntitlementRows.OfClaimsAsync(session, FundId, claims, ct), fold.Where(p => set.Contains(p.Key)).ToDictionary(), text);
            var payees = fold.Where(p => set.Contains(p.Key)).Select(p => p.Value.Payee).ToHashSet();
            var buyers = fold.Where(p => payees.Contains(p.Value.Payee)).ToDictionary();
            Same(await EntitlementRows.OfBuyersOfAsync(session, FundId, claims, ct), buyers, $"{text}, their buyers'");
            (await EntitlementRows.OfClaimsAsync(session, Guid.CreateVersion7(), claims, ct)).ShouldBeEmpty(because);
            (await EntitlementRows.OfBuyersOfAsync(session, Guid.CreateVersion7(), claims, ct)).ShouldBeEmpty(because);
        }
        // The buyers really do reach other claims: buyer A's two claims from one, B's three (claim 4 took B's key when recorded again).
        (await EntitlementRows.OfBuyersOfAsync(session, FundId, [Claim(31)], ct)).Count.ShouldBe(2, because);
        (await EntitlementRows.OfBuyersOfAsync(session, FundId, [Claim(4)], ct)).Count.ShouldBe(3, because);
        (await EntitlementRows.OfBuyersOfAsync(session, FundId, [Claim(35)], ct)).Count.ShouldBe(1, because);
    }

    /// <summary>
    /// <see cref="FundReportTablesTests.Scenario"/> (four claims without buyer keys, a cancelled and a released round, a settlement, a return
    /// and its reissue, a statement), then buyers: A with claims 31 and 32, B with 33, 34 and (recorded again with B's key) claim 4, claim 35
    /// without a key, C..F with one claim each; claim 31 appealed twice (a new amount; a new key, which it does not take). A round prepared
    /// and cancelled, one prepared and released (claims against the perpetrator from its pool and the general pool: two lines a claim),
    /// a settlement and a return one at a time, the return reissued, a third round for the appeal, and a statement settling and returning
    /// the rest in runs (claim 31 in two payouts of one run). With <paramref name="checkAfterEachDecision"/>, the rows against the fold after each.
    /// </summary>
    private async Task Scenario(bool checkAfterEachDecision)
    {
        await FundReportTablesTests.Scenario(App);
        async Task Decide(Instant at, string what, Func<Fund, Instant, Decision> decide)
        {
            await FundReportTablesTests.Decide(App, at, decide);
            if (checkAfterEachDecision) await RowsShouldBeTheFold(what);
        }
        if (checkAfterEachDecision) await RowsShouldBeTheFold("the tables' scenario");

        FraudCase fraudCase;
        await using (var query = App.Store.QuerySession()) fraudCase = (await query.LoadAsync<FraudCase>(Demo.PutianDemo.CaseId))!;
        var supplier = fraudCase.SupplierAccounts[0];
        var t = LedgerApp.Start + Duration.FromDays(4);
        RecordEntitlement Claim(int n, decimal amount, string? buyer, bool againstPerpetrator = false) =>
            new(FundId, ClaimIds[n], $"CL-2011-{n:D6}", fraudCase.Id, supplier.Platform, againstPerpetrator ? supplier.AccountId : "someone-else", n % 2 == 0 ? "GB" : "DE",
                Money.Of(amount, "USD"), "claims.approver", buyer);

        await Decide(t, "deposits", (f, now) => DepositToPoolEndpoint.Decide(f, f.GeneralPool!.Id, new DepositToPool(Money.Of(5_000m, "USD"), "SPONSOR-2", new LocalDate(2011, 4, 15)), "fiona", now));
        await Decide(t, "a perpetrator deposit", (f, now) => DepositToPoolEndpoint.Decide(f, Perpetrator, new DepositToPool(Money.Of(150m, "USD"), "FORFEIT-3", new LocalDate(2011, 4, 15)), "fiona", now));
        // A batch of approvals (several events in one transaction), claim 4 again with B's key and its amount unchanged.
        await Decide(t, "entitlements with buyers", (f, now) =>
        {
            var (events, refused) = RecordEntitlementHandler.DecideBatch(f,
            [
                Claim(31, 400m, "buyer-A", againstPerpetrator: true), Claim(32, 300.25m, "buyer-A"), Claim(33, 250m, "buyer-B"), Claim(34, 200m, "buyer-B"),
                Claim(35, 150.10m, null), Claim(36, 120m, "buyer-C"), Claim(37, 110m, "buyer-D"), Claim(38, 100m, "buyer-E"), Claim(39, 90.5m, "buyer-F"),
                new RecordEntitlement(FundId, f.Entitlements.Values.Single(e => e.ClaimReference == "CL-2011-000004").ClaimId, "CL-2011-000004", fraudCase.Id,
                    supplier.Platform, "someone-else", "GB", Money.Of(300m, "USD"), "claims.approver", "buyer-B"),
            ], now);
            refused.ShouldBeEmpty();
            return Decision.Accept([.. events]);
        });

        var cancelled = Guid.CreateVersion7();
        await Decide(t + Duration.FromSeconds(1), "a round prepared", (f, now) => PrepareRoundEndpoint.Decide(f, cancelled, "fiona", now));
        (await Fold()).Values.ShouldContain(e => e.Allocated > 0);
        await Decide(t + Duration.FromSeconds(2), "the round cancelled", (f, now) => CancelRoundEndpoint.Decide(f, cancelled, new CancelRound("wrong day"), "frank", now));
        await Decide(t + Duration.FromSeconds(3), "claim 31 appealed", (f, now) => RecordEntitlementHandler.Decide(f, Claim(31, 420m, "buyer-A"), now));

        var released = Guid.CreateVersion7();
        await Decide(t + Duration.FromSeconds(4), "a round prepared again", (f, now) => PrepareRoundEndpoint.Decide(f, released, "fiona", now));
        await using (var query = App.Store.QuerySession())
        {
            var round = (await query.Events.AggregateStreamAsync<Fund>(FundId))!.Rounds[released];
            round.Allocations.GroupBy(a => a.ClaimId).ShouldContain(g => g.Count() >= 2, "a claim allocated from two pools");
        }
        await Decide(t + Duration.FromSeconds(5), "the round released", (f, now) => ReleaseRoundEndpoint.Decide(f, released, Guid.CreateVersion7, "frank", now));

        Payout Of(Fund f, int claim) => f.Payouts.Values.Where(p => p.Pays(ClaimIds[claim])).OrderBy(p => p.IssuedAt).Last();
        await Decide(t + Duration.FromSeconds(6), "a settlement", (f, now) => SettlePayoutEndpoint.Decide(f, Of(f, 36).Id, new RecordPayoutSettlement("BANK-36"), "frank", now));
        await Decide(t + Duration.FromSeconds(7), "a return", (f, now) => ReturnPayoutEndpoint.Decide(f, Of(f, 35).Id, new RecordPayoutReturn("account closed"), "frank", now));
        await Decide(t + Duration.FromSeconds(8), "a reissue prepared", (f, now) => ReissuePayoutEndpoint.Decide(f, Of(f, 35).Id,
            new ReissuePayout(new BankDetails("Buyer 35", "GB29NWBK60161331926819")), "fiona", now));
        await Decide(t + Duration.FromSeconds(9), "the reissue", (f, now) => ApproveReissueEndpoint.Decide(f, Of(f, 35).Id, Guid.CreateVersion7(), "frank", now));
        await Decide(t + Duration.FromSeconds(10), "claim 31 appealed again with another key", (f, now) => RecordEntitlementHandler.Decide(f, Claim(31, 480m, "buyer-Z"), now));
        await Decide(t + Duration.FromSeconds(11), "a third round prepared", (f, now) => PrepareRoundEndpoint.Decide(f, Guid.CreateVersion7(), "fiona", now));
        await Decide(t + Duration.FromSeconds(12), "the third round released", (f, now) =>
            ReleaseRoundEndpoint.Decide(f, f.Rounds.Values.Single(r => r.Status == RoundStatus.Prepared).Id, Guid.CreateVersion7, "frank", now));

        // The statement: settles A's two payouts and B's (claim 31 in two of them), returns D's and E's, settles the reissue and F's.
        await Decide(t + Duration.FromDays(1), "a bank statement", (f, now) =>
        {
            var a = f.Payouts.Values.Where(p => p.Pays(ClaimIds[31])).OrderBy(p => p.IssuedAt).ToList();
            a.Count.ShouldBe(2, "buyer A paid in two rounds");
            var lines = new (Payout Payout, StatementDirection Direction)[]
                {
                    (a[0], StatementDirection.Debit), (a[1], StatementDirection.Debit), (Of(f, 33), StatementDirection.Debit),
                    (Of(f, 37), StatementDirection.Credit), (Of(f, 38), StatementDirection.Credit), (Of(f, 35), StatementDirection.Debit), (Of(f, 39), StatementDirection.Debit),
                }
                .Select((l, n) => new StatementLine(n + 1, new LocalDate(2011, 4, 16), l.Payout.Reference, l.Payout.Amount, l.Direction)).ToList();
            return ImportBankStatementEndpoint.Decide(f, lines, "fiona", now);
        });
        IReadOnlyList<JasperFx.Events.IEvent> events;
        await using (var query = App.Store.QuerySession()) events = await query.Events.FetchStreamAsync(FundId);
        PayoutRuns.Split([.. events.TakeLast(7)], e => [e.Id]).Select(p => (p.Events.Count, p.IsRun)).ShouldBe([(3, true), (2, true), (2, true)]);
    }

    /// <summary>Claim ids by claim number, fixed so the scenario can name them before they are recorded.</summary>
    private static readonly IReadOnlyDictionary<int, Guid> ClaimIds =
        Enumerable.Range(31, 9).ToDictionary(n => n, n => Guid.Parse($"0195a2c0-2011-7000-8000-0000000c{n:D4}"));

    private async Task<System.Collections.Immutable.ImmutableDictionary<Guid, Entitlement>> Fold()
    {
        await using var session = App.Store.QuerySession();
        return (await session.Events.AggregateStreamAsync<Fund>(FundId))!.Entitlements;
    }

    private async Task RowsShouldBeTheFold(string because)
    {
        var fold = await Fold();
        await using var session = App.Store.QuerySession();
        Same(await EntitlementRows.OfFundAsync(session, FundId, CancellationToken.None), fold, because);
        // The version of each row is the version of the last event that changed it: a row never claims events it has not taken.
        var version = (await session.Events.FetchStreamStateAsync(FundId))!.Version;
        (await Count($"select count(*) from {LedgerSetup.Schema}.{EntitlementsTable} where version > {version} or version < 1")).ShouldBe(0, because);
    }

    /// <summary>Equal entitlements by claim, each by record equality (amounts as decimals: 0.00 and 0 are one amount).</summary>
    private static void SameJson<T>(T actual, T expected, string because) =>
        System.Text.Json.JsonSerializer.Serialize(actual, LedgerApp.Json).ShouldBe(System.Text.Json.JsonSerializer.Serialize(expected, LedgerApp.Json), because);

    private static void Same(IReadOnlyDictionary<Guid, Entitlement> actual, IReadOnlyDictionary<Guid, Entitlement> expected, string because)
    {
        actual.Keys.Order().ShouldBe(expected.Keys.Order(), because);
        foreach (var (claimId, entitlement) in expected) actual[claimId].ShouldBe(entitlement, because);
    }

    /// <summary>The rows a fill wrote: the projection's entitlements (amounts as decimals), each with the snapshot's version.</summary>
    private async Task FilledRowsShouldBe(IReadOnlyList<EntitlementRow> projected, long snapshotVersion, string because)
    {
        var filled = await RowRecords();
        filled.Select(r => r.Version).Distinct().ShouldBe([snapshotVersion], because);
        filled.Select(r => r with { Version = 0 }).ShouldBe(projected.Select(r => r with { Version = 0 }), because);
        projected.ShouldContain(r => r.Allocated == 0 && r.Allocated.Scale > 0, "an allocation gone back to zero, with a scale the snapshot does not keep");
    }

    private async Task<List<EntitlementRow>> RowRecords()
    {
        await using var session = App.Store.QuerySession();
        return await ReportSql.ReadAsync(session,
            $"""
             select fund_id, claim_id, claim_reference, case_id, platform, supplier_account_id, buyer_country, amount, allocated, in_transit, settled, buyer_key, version
             from {LedgerSetup.Schema}.{EntitlementsTable} order by fund_id, claim_id
             """,
            r => new EntitlementRow(r.GetGuid(0), r.GetGuid(1), r.GetString(2), r.GetGuid(3), r.GetString(4), r.GetString(5), r.GetString(6), r.GetDecimal(7), r.GetDecimal(8),
                r.GetDecimal(9), r.GetDecimal(10), r.IsDBNull(11) ? null : r.GetString(11), r.GetInt64(12)), CancellationToken.None);
    }

    /// <summary>Every row as JSON (every column, amounts with their scale), in claim order.</summary>
    private async Task<string[]> Rows()
    {
        await using var session = App.Store.QuerySession();
        var rows = await session.QueryAsync<string>($"select row_to_json(t)::text from {LedgerSetup.Schema}.{EntitlementsTable} t order by t.fund_id, t.claim_id");
        rows.Count.ShouldBeGreaterThan(10);
        return [.. rows];
    }

    private async Task Execute(string sql)
    {
        await using var session = App.Store.LightweightSession();
        session.QueueSqlCommand(sql);
        await session.SaveChangesAsync();
    }

    private async Task<long> Count(string sql)
    {
        await using var session = App.Store.QuerySession();
        return (await session.QueryAsync<long>(sql)).Single();
    }

    private Task ProjectOne(FundReportProjection projection, JasperFx.Events.IEvent e) => FundReportTablesTests.ProjectOne(App, projection, e);
}
