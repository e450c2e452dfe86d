using System.Text.Json;
using CompensationLedger.Claims;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using CompensationLedger.Reports;
using JasperFx.Events.Projections;
using Marten;
using NodaTime;
using Npgsql;
using Weasel.Core;

namespace CompensationLedger.IntegrationTests.Reports;

/// <summary>
/// <see cref="ClaimTotalsProjection"/>'s tables against the definition, <see cref="PaidVsLost.Build"/> over
/// <see cref="ClaimTotalsLine.Fold"/>, over seeded random histories of claim and payout events appended straight to a store
/// that runs only this projection (so any event, in any state, at any time, can be tried): now and as of many instants
/// (each event's own, a nanosecond before it, before everything), every grouping, one case and all, to the JSON text and the
/// CSV byte. The histories have events in the same nanosecond, several events of one claim in one transaction, payouts
/// paying two claims from two pools, returns, erasures, and events stamped with the clock set back.
/// </summary>
public sealed class PaidVsLostTablesTests(LedgerApp app) : IntegrationTest(app)
{
    private const string Schema = "pvl_tables";
    private static readonly JsonSerializerOptions Json = Options();
    private static readonly PaidVsLostGrouping?[] Groupings = [null, .. Enum.GetValues<PaidVsLostGrouping>().Select(g => (PaidVsLostGrouping?)g)];
    private static readonly Guid CaseA = Guid.Parse("0195a2c0-2011-7000-8000-00000000ca5a");
    private static readonly Guid CaseB = Guid.Parse("0195a2c0-2011-7000-8000-00000000ca5b");
    private static readonly Guid FundId = Guid.Parse("0195a2c0-2011-7000-8000-00000000f0d1");
    private static readonly Guid[] Pools = [Guid.Parse("0195a2c0-2011-7000-8000-0000000000b1"), Guid.Parse("0195a2c0-2011-7000-8000-0000000000b2")];

    private static JsonSerializerOptions Options()
    {
        var options = new JsonSerializerOptions();
        options.ConfigureLedgerJson();
        return options;
    }

    private DocumentStore TablesOnlyStore()
    {
        var dataSource = new NpgsqlDataSourceBuilder(App.ConnectionString);
        dataSource.UseNodaTime();
        return DocumentStore.For(options =>
        {
            options.Connection(dataSource.Build());
            options.DatabaseSchemaName = Schema;
            options.UseLedgerStorage();
            options.Projections.Add(new ClaimTotalsProjection(Schema), ProjectionLifecycle.Inline);
            options.AutoCreateSchemaObjects = JasperFx.AutoCreate.CreateOrUpdate;
        });
    }

    /// <summary>
    /// A random history: events in the order they are appended, in transactions of one to four events. With <paramref name="bursts"/>,
    /// payouts also come in bursts of two to seven settlements or returns (a claim sometimes twice in one), in transactions of up to
    /// nine events: what a bank statement appends, which the projection writes set-based (PayoutRuns).
    /// </summary>
    private static List<List<(Guid Stream, object Event)>> History(int seed, bool months = false, bool bursts = false)
    {
        var random = new Random(seed);
        var policy = new ClaimPolicySettings().Terms();
        var claims = new List<ClaimFiled>();
        var events = new List<(Guid, object)>();
        var clock = Instant.FromUtc(2011, 4, 11, 8, 0);
        string[] platforms = ["Alibaba.com", "EC21.com", "a/b", "a"];
        string[] suppliers = ["cnxinda", "b/c", "c", "=x"];
        string[] countries = ["US", "DE", "GB"];
        string[] currencies = ["USD", "USD", "EUR", "JPY"];
        T Pick<T>(IReadOnlyList<T> items) => items[random.Next(items.Count)];

        for (var step = 0; step < 160; step++)
        {
            clock += random.Next(6) switch
            {
                0 => Duration.Zero, // the same nanosecond as the event before
                1 => Duration.FromNanoseconds(1),
                2 => Duration.FromTicks(random.Next(1, 10)),
                3 => Duration.FromSeconds(random.Next(1, 60)),
                // Over several months when asked (as-of reports read the rollup's monthly sums), else within days.
                _ => months ? Duration.FromHours(random.Next(1, 100)) : Duration.FromMinutes(random.Next(1, 600)),
            };
            // Now and then an event stamped with the clock set back (by up to two days).
            var at = random.Next(12) == 0 ? clock - Duration.FromMinutes(random.Next(1, 3000)) : clock;
            if (claims.Count < 8 || (claims.Count < 40 && random.Next(4) == 0))
            {
                var currency = Pick(currencies);
                var amount = currency == "JPY" ? random.Next(1_000, 300_000) : random.Next(100, 400_000) / 100m;
                var id = Guid.CreateVersion7();
                var filed = new ClaimFiled(id, random.Next(3) == 0 ? CaseB : CaseA, $"CL-{claims.Count}", Pick(countries), Pick(platforms), Pick(suppliers),
                    "ORD", new LocalDate(2011, 1, 1), new LocalDate(2011, random.Next(1, 4), random.Next(1, 29)), new Money(amount, currency), "PAY", null, "goods",
                    [], policy, "hana", at);
                claims.Add(filed);
                events.Add((id, filed));
                continue;
            }
            if (bursts && random.Next(5) == 0)
            {
                var returned = random.Next(3) == 0;
                for (var n = random.Next(2, 8); n > 0; n--)
                    events.Add((FundId, Payout(claims, random, random.Next(4) == 0 ? at - Duration.FromMinutes(random.Next(1, 3000)) : at, returned)));
                continue;
            }
            var claim = Pick(claims);
            var c = claim.ClaimId;
            object e = random.Next(15) switch
            {
                0 => new ClaimVerified(c, Pick([VerificationResult.VerifiedEligible, VerificationResult.VerifiedEligible, VerificationResult.VerifiedIneligible, VerificationResult.NeedsReview]), [], [], "vera", at),
                1 => new ClaimInformationRequested(c, 1, ["receipt"], at + Duration.FromDays(30), "hana", at),
                2 => new ClaimInformationProvided(c, 1, "here", [], "hana", at),
                3 => new ClaimLapsed(c, 1, at, at),
                4 or 5 => new ClaimApproved(c, Computation(claim, random), null, "abe", at),
                6 => new ClaimRejected(c, RejectionReason.InsufficientEvidence, null, "abe", at),
                7 => new ClaimAppealed(c, "grounds", "hana", at),
                8 => new ClaimAppealGranted(c, Computation(claim, random), null, "olga", at),
                9 => new ClaimAppealDismissed(c, null, "olga", at),
                10 => new ClaimWithdrawn(c, "refunded", "hana", at),
                11 => new ClaimBuyerDataErased(c, "hana", at),
                _ => Payout(claims, random, at),
            };
            events.Add((e is PayoutSettled or PayoutReturned ? FundId : c, e));
        }

        var transactions = new List<List<(Guid, object)>>();
        for (var i = 0; i < events.Count;)
        {
            var size = Math.Min(random.Next(1, bursts ? 10 : 5), events.Count - i);
            transactions.Add(events.GetRange(i, size));
            i += size;
        }
        return transactions;
    }

    private static EntitlementComputation Computation(ClaimFiled claim, Random random)
    {
        var loss = claim.AmountPaid;
        var converted = loss.Currency == "USD";
        var rate = converted ? 1m : random.Next(5_000, 16_000) / 10_000m;
        var inUsd = loss.Amount * rate;
        var entitlement = Math.Min(Math.Round(inUsd * 0.7m, 2, MidpointRounding.AwayFromZero), 1000.00m);
        return new EntitlementComputation(new Money(entitlement, "USD"), loss, inUsd,
            converted ? null : new AppliedRate(loss.Currency, "USD", claim.PaymentDate, rate), 0.7m, new Money(1000.00m, "USD"), entitlement == 1000.00m, "v1");
    }

    /// <summary>A payout settled or returned, for one claim or two (one buyer), from one pool or two.</summary>
    private static object Payout(List<ClaimFiled> claims, Random random, Instant at, bool? returned = null)
    {
        var paid = claims.OrderBy(_ => random.Next()).Take(random.Next(1, 3)).ToList();
        var lines = paid.SelectMany(c => Pools.Take(random.Next(1, 3)).Select(pool =>
            new PayoutLine(c.ClaimId, c.Reference, pool, new Money(random.Next(1, 50_000) / 100m, "USD")))).ToArray();
        var perPool = PayoutLines.PerPool(lines);
        return returned ?? random.Next(3) == 0
            ? new PayoutReturned(FundId, Guid.NewGuid(), null, perPool, "account closed", "fiona", at, lines)
            : new PayoutSettled(FundId, Guid.NewGuid(), null, perPool, "BANK", "fiona", at, lines);
    }

    private static async Task<List<object>> AllEvents(IDocumentStore store)
    {
        await using var session = store.QuerySession();
        return [.. (await session.Events.QueryAllRawEvents().OrderBy(e => e.Sequence).ToListAsync()).Select(e => e.Data)];
    }

    private static async Task ShouldAgreeWithTheFold(IDocumentStore store, IReadOnlyList<object> events, Instant? asOf, string because)
    {
        var lines = ClaimTotalsLine.Fold(events, asOf);
        await using var session = store.QuerySession();
        foreach (var caseId in new Guid?[] { null, CaseA })
        foreach (var grouping in Groupings)
        {
            var why = $"{because}, asOf {asOf?.ToString() ?? "(now)"}, case {caseId?.ToString() ?? "(all)"}, groupBy {grouping?.ToString() ?? "(none)"}";
            var scoped = caseId is { } id ? lines.Where(l => l.CaseId == id).ToList() : lines;
            var expected = PaidVsLost.Build(scoped, caseId, grouping, asOf, ClaimTotals.FundCurrencyOf(scoped, "USD")!);
            var actual = await ClaimTotalsSql.ReportAsync(session, caseId, grouping, "USD", CancellationToken.None, asOf);
            actual.ShouldNotBeNull(why);
            JsonSerializer.Serialize(actual, Json).ShouldBe(JsonSerializer.Serialize(expected, Json), why);
            PaidVsLost.ToCsv(actual).ShouldBe(PaidVsLost.ToCsv(expected), why);
            // "Now" is the rollup and its tail, "as of" its monthly sums, the month's change rows and the tail; the claims' rows and all
            // change rows up to t (the answers before the rollup) say the same.
            var fromClaimRows = await ClaimTotalsSql.ReportAsync(session, caseId, grouping, "USD", CancellationToken.None, asOf, claimRows: true);
            JsonSerializer.Serialize(fromClaimRows, Json).ShouldBe(JsonSerializer.Serialize(expected, Json), why + ", from the claim rows");
            PaidVsLost.ToCsv(fromClaimRows!).ShouldBe(PaidVsLost.ToCsv(expected), why + ", from the claim rows");
        }
    }

    /// <summary>
    /// The rollup is exactly the change rows below its horizon, summed per grouping, case, key and currencies (each row text for text,
    /// so a scale or a count that differs shows); returns its number of rows.
    /// </summary>
    private async Task<long> RollupShouldBeTheChangeRowsBelowItsHorizon(string because)
    {
        var figures = ClaimTotalsProjection.Figures;
        var rollup = await Texts(
            $"select (grouping, case_id, key, fund_currency, paid_currency, {string.Join(", ", figures.Select(f => f.Column))})::text from {Schema}.{ClaimTotalsRollup.RollupTable}");
        var sums = await Texts(
            $"""
             select (g.grouping, r.case_id, g.key, r.fund_currency, r.paid_currency, {string.Join(", ", figures.Select(f => $"sum(r.{f.Column})"))})::text
             from {Schema}.{ClaimTotalsProjection.ChangesTable} r
             cross join lateral (values {string.Join(", ", ClaimTotalsRollup.Groupings.Select(g => $"('{g.Name}', {g.Key})"))}) g(grouping, key)
             where r.xid < {ClaimTotalsRollup.Horizon(Schema)}
             group by g.grouping, r.case_id, g.key, r.fund_currency, r.paid_currency
             """);
        rollup.ShouldBe(sums, because);
        foreach (var (table, column, ofRow) in new[] { (ClaimTotalsRollup.MonthlyTable, "month_ns", ClaimTotalsRollup.MonthOfRow), (ClaimTotalsRollup.DailyTable, "day_ns", ClaimTotalsRollup.DayOfRow) })
        {
            var periodic = await Texts(
                $"select (grouping, case_id, key, fund_currency, paid_currency, {column}, {string.Join(", ", figures.Select(f => f.Column))})::text from {Schema}.{table}");
            var periodicSums = await Texts(
                $"""
                 select (g.grouping, r.case_id, g.key, r.fund_currency, r.paid_currency, {ofRow}, {string.Join(", ", figures.Select(f => $"sum(r.{f.Column})"))})::text
                 from {Schema}.{ClaimTotalsProjection.ChangesTable} r
                 cross join lateral (values {string.Join(", ", ClaimTotalsRollup.Groupings.Select(g => $"('{g.Name}', {g.Key})"))}) g(grouping, key)
                 where r.xid < {ClaimTotalsRollup.Horizon(Schema)}
                 group by g.grouping, r.case_id, g.key, r.fund_currency, r.paid_currency, {ofRow}
                 """);
            periodic.ShouldBe(periodicSums, $"{because}, {table}");
        }
        // Each row in the month and the day C# says it is in (the report's own bounds).
        (await Count($"select count(*) from {Schema}.{ClaimTotalsProjection.ChangesTable} r")).ShouldBe(await MonthsAgreeWithCSharp());
        return rollup.Count;
    }

    private async Task<long> MonthsAgreeWithCSharp()
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select r.at_ns, {ClaimTotalsRollup.MonthOfRow}, {ClaimTotalsRollup.DayOfRow} from {Schema}.{ClaimTotalsProjection.ChangesTable} r", connection);
        await using var reader = await command.ExecuteReaderAsync();
        long agreed = 0;
        while (await reader.ReadAsync())
            if (ClaimTotalsRollup.MonthStart(reader.GetInt64(0)) == reader.GetInt64(1) && ClaimTotalsRollup.DayStart(reader.GetInt64(0)) == reader.GetInt64(2)) agreed++;
        return agreed;
    }

    private async Task<List<string>> Texts(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var texts = new List<string>();
        while (await reader.ReadAsync()) texts.Add(reader.GetString(0));
        texts.Sort(StringComparer.Ordinal);
        return texts;
    }

    private async Task<long> TailRows() =>
        await Count($"select count(*) from {Schema}.{ClaimTotalsProjection.ChangesTable} where xid >= {ClaimTotalsRollup.Horizon(Schema)}");

    private static async Task Wipe(IDocumentStore store)
    {
        await store.Advanced.Clean.DeleteAllEventDataAsync();
        await using var wipe = store.LightweightSession();
        foreach (var table in ClaimTotalsProjection.Tables) wipe.QueueSqlCommand($"truncate {Schema}.{table}");
        await wipe.SaveChangesAsync();
    }

    private static async Task Append(IDocumentStore store, IEnumerable<List<(Guid Stream, object Event)>> transactions)
    {
        foreach (var transaction in transactions)
        {
            await using var session = store.LightweightSession();
            foreach (var (stream, e) in transaction) session.Events.Append(stream, e);
            await session.SaveChangesAsync();
        }
    }

    private async Task<long> Count(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private async Task<string> TableContents()
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        var text = new System.Text.StringBuilder();
        // The claims' and change rows; a change row without its writer's transaction id (another run, another id), the rollup apart
        // (its horizon differs between runs; RollupShouldBeTheChangeRowsBelowItsHorizon checks it).
        foreach (var table in new[] { ClaimTotalsProjection.ClaimsTable, ClaimTotalsProjection.ChangesTable })
        {
            await using var command = new NpgsqlCommand($"select (to_jsonb(t) - '{ClaimTotalsRollup.XidColumn}')::text r from {Schema}.{table} t order by r", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync()) text.AppendLine(reader.GetString(0));
        }
        return text.ToString();
    }

    [Fact]
    public async Task the_tables_answer_now_and_as_of_any_instant_exactly_as_the_fold_of_random_histories_and_a_rebuild_restores_them()
    {
        using var store = TablesOnlyStore();
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        foreach (var (seed, months, bursts) in new[] { (11, false, false), (23, false, false), (42, false, false), (8, true, false), (5, false, true) })
        {
            await Wipe(store);
            var history = History(seed, months, bursts);
            // Bursts put runs of settlements or of returns in one transaction (written set-based); the daemon's replay below applies
            // the same events one by one, and both must write the same rows.
            if (bursts)
                history.Count(t => t.Zip(t.Skip(1)).Any(p => p.First.Event is PayoutSettled or PayoutReturned && p.First.Event.GetType() == p.Second.Event.GetType()))
                    .ShouldBeGreaterThan(3);
            await Append(store, history.Take(history.Count / 2));
            await ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None);
            await Append(store, history.Skip(history.Count / 2));
            var events = await AllEvents(store);
            var because = $"seed {seed}";
            (await TailRows()).ShouldBeGreaterThan(0, because); // "now" below sums the rollup and a tail
            (await RollupShouldBeTheChangeRowsBelowItsHorizon(because)).ShouldBeGreaterThan(0, because);
            // The history covers what it says: claims stamped out of order (folded instead), payouts, several events in one nanosecond.
            (await Count($"select count(*) from {Schema}.{ClaimTotalsProjection.ClaimsTable} where not ordered")).ShouldBeGreaterThan(0, because);
            (await Count($"select count(*) from {Schema}.{ClaimTotalsProjection.ChangesTable} where paid <> 0 or returned <> 0")).ShouldBeGreaterThan(5, because);
            (await Count($"select count(*) from (select at_ns from {Schema}.{ClaimTotalsProjection.ChangesTable} group by at_ns having count(*) > 1) t")).ShouldBeGreaterThan(0, because);

            // The claims' rows are the fold's lines.
            await using (var session = store.QuerySession())
                (await ClaimTotalsSource.Now(session, null, CancellationToken.None)).OrderBy(l => l.Id)
                    .ShouldBe(ClaimTotalsLine.Fold(events).OrderBy(l => l.Id), because);
            await ShouldAgreeWithTheFold(store, events, null, because);

            // As of: before everything, at (and a nanosecond before) a sample of the events' own instants, at the end.
            var instants = events.Select(ClaimTotalsLine.BusinessTime).OfType<Instant>().Distinct().Order().ToList();
            var random = new Random(seed);
            // And each month's first nanosecond and the one before it: where the monthly sums hand over to the daily ones; and some
            // days' (where the daily sums hand over to the change rows).
            var monthStarts = instants.Select(t => t.InUtc().Date).Select(d => new LocalDate(d.Year, d.Month, 1).AtStartOfDayInZone(DateTimeZone.Utc).ToInstant())
                .Distinct().Skip(1).SelectMany(t => new[] { t, t - Duration.FromNanoseconds(1) });
            var dayStarts = instants.Select(t => t.InUtc().Date.AtStartOfDayInZone(DateTimeZone.Utc).ToInstant()).Distinct().Skip(1)
                .Where(_ => random.Next(4) == 0).SelectMany(t => new[] { t, t - Duration.FromNanoseconds(1) });
            var sample = instants.Where(_ => random.Next(6) == 0).SelectMany(t => new[] { t, t - Duration.FromNanoseconds(1) }).Concat(monthStarts).Concat(dayStarts)
                .Append(instants[0] - Duration.FromSeconds(1)).Append(instants[^1]).Append(Instant.MaxValue).ToList();
            if (months) monthStarts.Count().ShouldBeGreaterThan(2, because);
            foreach (var asOf in sample) await ShouldAgreeWithTheFold(store, events, asOf, because);

            // A rebuild from the events gives the same rows, to the byte: the one operators run (folded in C#, copied, swapped in), and
            // Marten's daemon replaying the events through the projection's SQL.
            var before = await TableContents();
            await ClaimTotalsRebuild.RunAsync(store, null, CancellationToken.None);
            (await TableContents()).ShouldBe(before, because);
            // The rebuild swapped in a rollup of its own change rows: consistent with them, and "now" the same from it as from the claim rows.
            (await RollupShouldBeTheChangeRowsBelowItsHorizon(because + ", rebuilt")).ShouldBeGreaterThan(0, because);
            await ShouldAgreeWithTheFold(store, events, null, because + ", rebuilt");
            await ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None);
            (await TailRows()).ShouldBe(0, because);
            await ShouldAgreeWithTheFold(store, events, null, because + ", rebuilt and advanced");
            foreach (var asOf in sample.Where((_, i) => i % 3 == 0)) await ShouldAgreeWithTheFold(store, events, asOf, because + ", rebuilt and advanced");
            using (var daemon = await store.BuildProjectionDaemonAsync())
                await daemon.RebuildProjectionAsync(ClaimTotalsProjection.ProjectionName, TimeSpan.FromMinutes(1), CancellationToken.None);
            (await TableContents()).ShouldBe(before, because);
            // The daemon empties the rollup with the other tables: everything is tail until the next advance.
            (await RollupShouldBeTheChangeRowsBelowItsHorizon(because + ", replayed")).ShouldBe(0, because);
            await ShouldAgreeWithTheFold(store, events, null, because + ", replayed");
            await ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None);
            await ShouldAgreeWithTheFold(store, events, null, because + ", replayed and advanced");
        }
    }

    private static ClaimFiled Filing(Guid claimId, string reference, Instant at) =>
        new(claimId, CaseA, reference, "US", "Alibaba.com", "cnxinda", "ORD", new LocalDate(2011, 1, 1), new LocalDate(2011, 1, 25),
            new Money(1400.00m, "USD"), "PAY", null, "goods", [], new ClaimPolicySettings().Terms(), "hana", at);

    private async Task WaitForAWriterBlockedOnTheTotals()
    {
        for (var tries = 0; tries < 200; tries++)
        {
            if (await Count($"select count(*) from pg_locks where not granted and relation in ('{Schema}.{ClaimTotalsProjection.ClaimsTable}'::regclass, '{Schema}.{ClaimTotalsProjection.ChangesTable}'::regclass)") > 0)
                return;
            await Task.Delay(50);
        }
        throw new TimeoutException("No writer came to wait for the locked totals tables.");
    }

    [Fact]
    public async Task a_rebuild_while_events_are_recorded_counts_every_one_of_them_once_and_swaps_in_what_a_quiet_rebuild_gives()
    {
        using var store = TablesOnlyStore();
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await Wipe(store);
        var history = History(7);
        var split = history.Count * 2 / 3;
        await Append(store, history.Take(split));
        var during = history.Skip(split).ToList();
        var at = Instant.FromUtc(2011, 6, 1, 8, 0);
        var late = Guid.CreateVersion7();
        var lastMinute = Guid.CreateVersion7();

        NpgsqlConnection? heldConnection = null;
        NpgsqlTransaction? held = null;
        Task? blocked = null;
        await using var closeHeld = new AsyncDisposer(async () => { if (heldConnection is not null) await heldConnection.DisposeAsync(); });
        var result = await ClaimTotalsRebuild.RunWithPhasesAsync(store, async phase =>
        {
            switch (phase)
            {
                case ClaimTotalsRebuild.Phase.TablesCreated:
                    // A transaction takes its sequence numbers (a new claim filed and verified) and stays open past the first pass, while
                    // later ones commit: the pass sees numbers above it committed and must come back for it.
                    heldConnection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
                    await heldConnection.OpenAsync();
                    held = await heldConnection.BeginTransactionAsync();
                    await using (var session = store.LightweightSession(Marten.Services.SessionOptions.ForTransaction(held)))
                    {
                        session.Events.Append(late, Filing(late, "CL-LATE", at), new ClaimVerified(late, VerificationResult.VerifiedEligible, [], [], "vera", at));
                        await session.SaveChangesAsync();
                    }
                    await Append(store, during.Take(during.Count / 3));
                    break;
                case ClaimTotalsRebuild.Phase.FirstPassDone:
                    await held!.CommitAsync();
                    await Append(store, during.Skip(during.Count / 3).Take(during.Count / 3));
                    break;
                case ClaimTotalsRebuild.Phase.ClaimRowsWritten:
                    // After the claims' rows were copied: the rows these events move are written again before the swap.
                    await Append(store, during.Skip(2 * (during.Count / 3)));
                    break;
                case ClaimTotalsRebuild.Phase.LiveTablesLocked:
                    // A decision arriving during the swap waits for it, then moves the rebuilt row of its claim.
                    blocked = Append(store, [[(late, new ClaimApproved(late, new EntitlementComputation(new Money(980.00m, "USD"), new Money(1400.00m, "USD"), 1400.00m, null, 0.7m,
                        new Money(1000.00m, "USD"), false, "v1"), null, "abe", at + Duration.FromDays(1))), (lastMinute, Filing(lastMinute, "CL-LAST", at + Duration.FromDays(1)))]]);
                    await WaitForAWriterBlockedOnTheTotals();
                    break;
            }
        }, CancellationToken.None);
        await blocked!;

        result.LateEvents.ShouldBe(2);
        var events = await AllEvents(store);
        events.Count.ShouldBe(history.Sum(t => t.Count) + 4);
        await using (var session = store.QuerySession())
        {
            var rows = (await ClaimTotalsSource.Now(session, null, CancellationToken.None)).OrderBy(l => l.Id).ToList();
            rows.ShouldBe(ClaimTotalsLine.Fold(events).OrderBy(l => l.Id));
            rows.Single(l => l.Id == late).Status.ShouldBe(ClaimStatus.Approved);
            rows.ShouldContain(l => l.Id == lastMinute);
        }
        await ShouldAgreeWithTheFold(store, events, null, "after the raced rebuild");
        await ShouldAgreeWithTheFold(store, events, at, "after the raced rebuild");
        // The rollup swapped in agrees with the change rows swapped in, the decision and filing that waited for the swap are in its
        // tail, and once absorbed the answer is the same.
        (await RollupShouldBeTheChangeRowsBelowItsHorizon("after the raced rebuild")).ShouldBeGreaterThan(0);
        (await TailRows()).ShouldBeGreaterThanOrEqualTo(2);
        await ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None);
        (await TailRows()).ShouldBe(0);
        await RollupShouldBeTheChangeRowsBelowItsHorizon("after the raced rebuild, advanced");
        await ShouldAgreeWithTheFold(store, events, null, "after the raced rebuild, advanced");

        // The same rows, to the byte, as a rebuild with nothing else going on; and the schema it was built in is gone.
        var raced = await TableContents();
        await ClaimTotalsRebuild.RunAsync(store, null, CancellationToken.None);
        (await TableContents()).ShouldBe(raced);
        (await Count($"select count(*) from pg_namespace where nspname = '{Schema}_rebuild'")).ShouldBe(0);
    }

    [Fact]
    public async Task daily_sums_missing_beside_an_advanced_rollup_are_filled_by_the_next_advance()
    {
        // A development database from before migration 0011: Marten creates the daily table empty while the rollup has absorbed rows.
        using var store = TablesOnlyStore();
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await Wipe(store);
        var history = History(23, months: true);
        await Append(store, history.Take(history.Count / 2));
        await ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None);
        await Append(store, history.Skip(history.Count / 2));
        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            await using var truncate = new NpgsqlCommand($"truncate {Schema}.{ClaimTotalsRollup.DailyTable}", connection);
            await truncate.ExecuteNonQueryAsync();
        }

        // The next advance fills them from the rows below its horizon, then absorbs the rest.
        await ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None);
        await RollupShouldBeTheChangeRowsBelowItsHorizon("after the backfill");
        var events = await AllEvents(store);
        var last = events.Select(ClaimTotalsLine.BusinessTime).OfType<Instant>().Max();
        foreach (var asOf in new[] { last, last - Duration.FromDays(3), last - Duration.FromDays(40) })
            await ShouldAgreeWithTheFold(store, events, asOf, "after the backfill");
    }

    [Fact]
    public async Task a_rebuild_that_fails_before_the_swap_leaves_the_live_tables_as_they_were_and_one_runs_at_a_time()
    {
        using var store = TablesOnlyStore();
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await Wipe(store);
        await Append(store, History(11));
        var before = await TableContents();

        using var cancel = new CancellationTokenSource();
        await Should.ThrowAsync<OperationCanceledException>(() => ClaimTotalsRebuild.RunWithPhasesAsync(store, async phase =>
        {
            if (phase == ClaimTotalsRebuild.Phase.TablesCreated)
                (await Should.ThrowAsync<InvalidOperationException>(() => ClaimTotalsRebuild.RunAsync(store, null, CancellationToken.None))).Message.ShouldContain("Another rebuild");
            if (phase == ClaimTotalsRebuild.Phase.ClaimRowsWritten) await cancel.CancelAsync();
        }, cancel.Token));

        (await TableContents()).ShouldBe(before);
        (await Count($"select count(*) from pg_namespace where nspname = '{Schema}_rebuild'")).ShouldBe(0);
        // Nothing is left holding the rebuild: the next one runs.
        await ClaimTotalsRebuild.RunAsync(store, null, CancellationToken.None);
        (await TableContents()).ShouldBe(before);
    }

    [Fact]
    public async Task now_from_the_rollup_and_its_tail_equals_the_claim_rows_and_the_fold_at_every_point_of_a_history_advanced_or_not()
    {
        using var store = TablesOnlyStore();
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await Wipe(store);
        var history = History(19, months: true);
        var random = new Random(19);
        var advanced = 0;
        for (var i = 0; i < history.Count; i++)
        {
            await Append(store, [history[i]]);
            if (i % 3 != 0 && i != history.Count - 1) continue;
            var events = await AllEvents(store);
            await ShouldAgreeWithTheFold(store, events, null, $"after transaction {i}, {await TailRows()} change rows in the tail");
            if (random.Next(2) == 0) continue;
            await ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None);
            advanced++;
            (await TailRows()).ShouldBe(0);
            await RollupShouldBeTheChangeRowsBelowItsHorizon($"after transaction {i}, advanced");
            await ShouldAgreeWithTheFold(store, events, null, $"after transaction {i}, advanced");
            // As of the last event, the first nanosecond of its month and of its day and the ones before: the monthly sums, the daily
            // sums, the day's rows, and each pair.
            var last = events.Select(ClaimTotalsLine.BusinessTime).OfType<Instant>().Max();
            var month = new LocalDate(last.InUtc().Year, last.InUtc().Month, 1).AtStartOfDayInZone(DateTimeZone.Utc).ToInstant();
            var day = last.InUtc().Date.AtStartOfDayInZone(DateTimeZone.Utc).ToInstant();
            foreach (var asOf in new[] { last, month, month - Duration.FromNanoseconds(1), day, day - Duration.FromNanoseconds(1) })
                await ShouldAgreeWithTheFold(store, events, asOf, $"after transaction {i}, advanced");
            // Advancing again with nothing new changes nothing.
            await ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None);
            await RollupShouldBeTheChangeRowsBelowItsHorizon($"after transaction {i}, advanced twice");
        }
        advanced.ShouldBeGreaterThan(3);
    }

    [Fact]
    public async Task a_transaction_holding_change_rows_open_across_concurrent_advances_is_counted_once_from_the_moment_it_commits()
    {
        using var store = TablesOnlyStore();
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await Wipe(store);
        var history = History(5);
        await Append(store, history.Take(10));
        var at = Instant.FromUtc(2011, 6, 1, 8, 0);
        var late = Guid.CreateVersion7();

        // A filing and its verification written (change rows and all) by a transaction that stays open while later ones commit.
        await using var heldConnection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await heldConnection.OpenAsync();
        var held = await heldConnection.BeginTransactionAsync();
        await using (var session = store.LightweightSession(Marten.Services.SessionOptions.ForTransaction(held)))
        {
            session.Events.Append(late, Filing(late, "CL-LATE", at), new ClaimVerified(late, VerificationResult.VerifiedEligible, [], [], "vera", at));
            await session.SaveChangesAsync();
        }
        ulong heldXid;
        await using (var xid = new NpgsqlCommand("select pg_current_xact_id()::text", heldConnection, held))
            heldXid = ulong.Parse((string)(await xid.ExecuteScalarAsync())!, System.Globalization.CultureInfo.InvariantCulture);

        foreach (var chunk in history.Skip(10).Chunk(6))
        {
            await Append(store, chunk);
            // Two advances at once (two service instances): they take turns, and neither moves the horizon past the open transaction.
            var advances = await Task.WhenAll(ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None), ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None));
            advances.Max(a => a.To).ShouldBeLessThanOrEqualTo(heldXid);
            await RollupShouldBeTheChangeRowsBelowItsHorizon("while a transaction is held open");
            // Reports count what has committed, the held rows not yet.
            await ShouldAgreeWithTheFold(store, await AllEvents(store), null, "while a transaction is held open");
        }
        (await TailRows()).ShouldBeGreaterThan(0); // what committed after the held transaction began waits in the tail

        await held.CommitAsync();
        var events = await AllEvents(store);
        events.Count.ShouldBe(history.Sum(t => t.Count) - history.Take(10).Sum(t => t.Count) + history.Take(10).Sum(t => t.Count) + 2);
        // Counted from the moment it commits (in the tail), before any advance.
        await ShouldAgreeWithTheFold(store, events, null, "just after the held transaction committed");
        for (var tries = 0; (await ClaimTotalsRollup.AdvanceAsync(store, CancellationToken.None)).To <= heldXid; tries++)
        {
            tries.ShouldBeLessThan(100, "the horizon never passed the committed transaction");
            await Task.Delay(50);
        }
        (await TailRows()).ShouldBe(0);
        await RollupShouldBeTheChangeRowsBelowItsHorizon("after the held transaction was absorbed");
        await ShouldAgreeWithTheFold(store, events, null, "after the held transaction was absorbed");
        // Once: every claim once in each grouping of the rollup.
        (await Count($"select sum(claims)::bigint from {Schema}.{ClaimTotalsRollup.RollupTable} where grouping = 'platform'"))
            .ShouldBe(await Count($"select count(*) from {Schema}.{ClaimTotalsProjection.ClaimsTable}"));
    }

    [Fact]
    public async Task now_and_as_of_plan_the_tail_as_a_few_rows_and_never_in_parallel_whatever_the_horizon()
    {
        // The horizon is read by the statement itself, so the planner cannot know the tail is a few seconds of writes: with
        // "xid >= horizon" alone it counted a third of the change rows, and at a million events planned a parallel scan for one case
        // (two workers started per request) and a sort spilling to disk for all claims (PROFILING.md, 2026-12-04). Bounded above by
        // the snapshot's xmax too, the tail is a range of two unknowns: a few rows in the plan, whatever the table holds.
        using var store = TablesOnlyStore();
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await Wipe(store);
        const int rows = 200_000;
        var cases = Enumerable.Range(0, 20).Select(i => Guid.Parse($"0195a2c0-2011-7000-8000-0000000c{i:x4}")).ToArray();
        var figures = string.Join(", ", ClaimTotalsProjection.Figures.Select(f => f.Column));
        await using (var connection = new NpgsqlConnection(App.ConnectionString))
        {
            await connection.OpenAsync();
            // Change rows over two years of business time, 20 cases, all absorbed (the horizon above their transaction).
            await using var fill = new NpgsqlCommand($"""
                insert into {Schema}.{ClaimTotalsProjection.ChangesTable}
                    (claim_id, event_id, at_ns, case_id, platform, supplier_account, buyer_country, payment_month, fund_currency, paid_currency, {figures})
                select gen_random_uuid(), gen_random_uuid(), 1700000000000000000 + i * 315360000000, (@cases)[1 + i % 20],
                       'platform-' || (i % 5), 'supplier-' || (i % 50), 'US', '2024-01', 'USD', 'USD',
                       {string.Join(", ", ClaimTotalsProjection.Figures.Select(_ => "1"))}
                from generate_series(0, {rows - 1}) i;
                analyze {Schema}.{ClaimTotalsProjection.ChangesTable};
                """, connection);
            fill.Parameters.AddWithValue("cases", cases);
            await fill.ExecuteNonQueryAsync();
            await using var horizon = new NpgsqlCommand(
                $"insert into {Schema}.{ClaimTotalsRollup.CheckpointTable} (id, horizon) values (1, pg_current_xact_id())", connection);
            await horizon.ExecuteNonQueryAsync();

            var middle = 1700000000000000000 + rows / 2 * 315360000000L;
            foreach (var (oneCase, asOf) in new[] { (true, true), (false, true), (true, false), (false, false) })
            {
                await using var explain = new NpgsqlCommand("explain (format json) " + (asOf
                    ? ClaimTotalsSql.AsOfSql(Schema, PaidVsLostGrouping.Platform, oneCase)
                    : ClaimTotalsSql.NowSql(Schema, PaidVsLostGrouping.Platform, oneCase)), connection);
                if (oneCase) explain.Parameters.AddWithValue("case", cases[0]);
                if (asOf)
                {
                    explain.Parameters.AddWithValue("upTo", middle + 1);
                    explain.Parameters.AddWithValue("month", ClaimTotalsRollup.MonthStart(middle));
                    explain.Parameters.AddWithValue("day", ClaimTotalsRollup.DayStart(middle));
                    explain.Parameters.AddWithValue("disordered", Array.Empty<Guid>());
                }
                var plan = (string)(await explain.ExecuteScalarAsync())!;
                var nodes = new List<JsonElement>();
                void Walk(JsonElement node)
                {
                    nodes.Add(node);
                    if (node.TryGetProperty("Plans", out var children)) foreach (var child in children.EnumerateArray()) Walk(child);
                }
                using var json = JsonDocument.Parse(plan);
                Walk(json.RootElement[0].GetProperty("Plan"));
                var what = (oneCase ? "one case" : "all claims") + (asOf ? ", as of" : ", now");
                nodes.ShouldNotContain(n => n.GetProperty("Node Type").GetString()!.StartsWith("Gather", StringComparison.Ordinal), $"{what}: {plan}");
                // The tail's scan: the one with "xid >= horizon" among its conditions ($n in the as-of statement, coalesce($n, ...) in the now one).
                var tail = nodes.Where(n => n.GetProperty("Node Type").GetString()!.Contains("Scan", StringComparison.Ordinal)
                    && new[] { "Index Cond", "Recheck Cond", "Filter" }.Any(c => n.TryGetProperty(c, out var cond) && cond.GetString()!.Contains("(xid >= ", StringComparison.Ordinal))).ToList();
                tail.ShouldNotBeEmpty($"{what}: {plan}");
                tail.ShouldAllBe(n => n.GetProperty("Plan Rows").GetDouble() < rows / 100.0, $"{what}: {plan}");
            }
        }
        await Wipe(store);
    }

    [Fact]
    public async Task the_rollup_writer_absorbs_what_is_recorded_every_interval_and_does_nothing_when_turned_off()
    {
        using var store = TablesOnlyStore();
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await Wipe(store);
        static Microsoft.Extensions.Configuration.IConfiguration Interval(string seconds) =>
            Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(new Microsoft.Extensions.Configuration.ConfigurationBuilder(),new Dictionary<string, string?> { [ClaimTotalsRollupWriter.IntervalKey] = seconds }).Build();
        var logger = Microsoft.Extensions.Logging.Abstractions.NullLogger<ClaimTotalsRollupWriter>.Instance;

        var off = new ClaimTotalsRollupWriter(store, Interval("0"), logger);
        await off.StartAsync(CancellationToken.None);
        var history = History(3);
        await Append(store, history);
        await off.ExecuteTask!;
        await off.StopAsync(CancellationToken.None);
        (await Count($"select count(*) from {Schema}.{ClaimTotalsRollup.CheckpointTable}")).ShouldBe(0);
        (await TailRows()).ShouldBe(await Count($"select count(*) from {Schema}.{ClaimTotalsProjection.ChangesTable}"));

        var on = new ClaimTotalsRollupWriter(store, Interval("0.2"), logger);
        await on.StartAsync(CancellationToken.None);
        try
        {
            for (var tries = 0; await TailRows() > 0; tries++)
            {
                tries.ShouldBeLessThan(150, "the writer did not absorb the change rows within 15 s");
                await Task.Delay(100);
            }
            // Decisions recorded while it runs are absorbed too.
            var more = Guid.CreateVersion7();
            await Append(store, [[(more, Filing(more, "CL-MORE", Instant.FromUtc(2011, 7, 1, 8, 0)))]]);
            for (var tries = 0; await TailRows() > 0; tries++)
            {
                tries.ShouldBeLessThan(150, "the writer did not absorb the last filing within 15 s");
                await Task.Delay(100);
            }
        }
        finally
        {
            await on.StopAsync(CancellationToken.None);
        }
        (await RollupShouldBeTheChangeRowsBelowItsHorizon("written by the hosted writer")).ShouldBeGreaterThan(0);
        await ShouldAgreeWithTheFold(store, await AllEvents(store), null, "written by the hosted writer");
    }

    [Fact]
    public async Task a_payout_in_another_currency_than_the_claim_s_fund_currency_fails_its_transaction_and_counts_nothing()
    {
        using var store = TablesOnlyStore();
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await Wipe(store);
        var at = Instant.FromUtc(2011, 4, 11, 8, 0);
        var claimId = Guid.CreateVersion7();
        await using (var session = store.LightweightSession())
        {
            session.Events.Append(claimId, new ClaimFiled(claimId, CaseA, "CL-1", "US", "Alibaba.com", "cnxinda", "ORD", new LocalDate(2011, 1, 1), new LocalDate(2011, 1, 25),
                new Money(1400.00m, "USD"), "PAY", null, "goods", [], new ClaimPolicySettings().Terms(), "hana", at));
            await session.SaveChangesAsync();
        }
        var euros = new PayoutLine(claimId, "CL-1", Pools[0], new Money(980.00m, "EUR"));
        await using (var session = store.LightweightSession())
        {
            session.Events.Append(FundId, new PayoutSettled(FundId, Guid.NewGuid(), null, [new PoolAmount(Pools[0], euros.Amount)], "BANK", "fiona", at + Duration.FromDays(1), [euros]));
            (await Should.ThrowAsync<Exception>(() => session.SaveChangesAsync())).ToString().ShouldContain("is paid in USD, not EUR");
        }

        (await Count($"select count(*) from {Schema}.{ClaimTotalsProjection.ChangesTable}")).ShouldBe(1); // the filing's
        (await Count($"select count(*) from {Schema}.{ClaimTotalsProjection.ClaimsTable} where paid = 0")).ShouldBe(1);
        // The payout was not appended either (Marten leaves only a tombstone for the sequence numbers it had taken).
        (await AllEvents(store)).OfType<PayoutSettled>().ShouldBeEmpty();
    }
}

internal sealed class AsyncDisposer(Func<Task> dispose) : IAsyncDisposable
{
    public async ValueTask DisposeAsync() => await dispose();
}
