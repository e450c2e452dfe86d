using System.Text.Json;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Infrastructure;
using CompensationLedger.IntegrationTests.Reports;
using CompensationLedger.IntegrationTests.StatusLookup;
using Marten;
using NodaTime;
using Npgsql;
using ClaimSnapshotRebuild = CompensationLedger.Infrastructure.SnapshotRebuild<CompensationLedger.Claims.Claim>;

namespace CompensationLedger.IntegrationTests.Claims;

/// <summary>
/// <see cref="SnapshotRebuild{T}"/> of the claims on the service's own store: seeded random claim histories appended through Marten (so the inline
/// snapshot writes the documents as the service does), then rebuilt beside the live table and swapped in, quietly and raced.
/// </summary>
public sealed class ClaimSnapshotRebuildTests(LedgerApp app) : IntegrationTest(app)
{
    private static readonly Guid CaseId = Guid.Parse("0195a2c0-2011-7000-8000-00000000ca5c");
    private static string Shadow => LedgerSetup.Schema + "_claim_rebuild";

    private static ClaimFiled Filing(Guid claimId, string reference, Instant at) =>
        new(claimId, CaseId, reference, "US", "Alibaba.com", "cnxinda", "ORD", new LocalDate(2011, 1, 1), new LocalDate(2011, 1, 25),
            new Money(1400.00m, "USD"), "PAY", null, "goods", [new EvidenceDocument("receipt.pdf", new string('a', 64))], new ClaimPolicySettings().Terms(), "hana", at);

    private static EntitlementComputation Computation() =>
        new(new Money(980.00m, "USD"), new Money(1400.00m, "USD"), 1400.00m, null, 0.7m, new Money(1000.00m, "USD"), false, "v1");

    /// <summary>A random history of claim events, in transactions of one to four events (several events of one claim in one transaction too).</summary>
    private static List<List<(Guid Stream, object Event)>> History(int seed, int claims = 30, int steps = 150)
    {
        var random = new Random(seed);
        var filed = new List<Guid>();
        var events = new List<(Guid, object)>();
        var at = Instant.FromUtc(2011, 4, 11, 8, 0);
        for (var step = 0; step < steps; step++)
        {
            at += Duration.FromMinutes(random.Next(0, 600));
            if (filed.Count < 5 || (filed.Count < claims && random.Next(3) == 0))
            {
                var id = Guid.CreateVersion7();
                filed.Add(id);
                events.Add((id, Filing(id, $"CL-{seed}-{filed.Count}", at)));
                continue;
            }
            var c = filed[random.Next(filed.Count)];
            object e = random.Next(12) switch
            {
                0 or 1 => new ClaimVerified(c, (VerificationResult)random.Next(3), [new CheckRecord(ClaimCheck.AmountValid, CheckOutcome.Passed, "ok")], [], random.Next(2) == 0 ? "vera" : "hana", at),
                2 => new ClaimInformationRequested(c, 1, ["receipt"], at + Duration.FromDays(30), "hana", at),
                3 => new ClaimInformationProvided(c, 1, "here", [new EvidenceDocument("more.pdf", new string('b', 64))], "hana", at),
                4 => new ClaimLapsed(c, 1, at, at),
                5 => new ClaimApproved(c, Computation(), null, "abe", at),
                6 => new ClaimRejected(c, RejectionReason.InsufficientEvidence, "no receipt", "abe", at),
                7 => new ClaimAppealed(c, "grounds", "hana", at),
                8 => new ClaimAppealGranted(c, Computation(), null, "olga", at),
                9 => new ClaimAppealDismissed(c, null, "olga", at),
                10 => new ClaimWithdrawn(c, "refunded", "hana", at),
                _ => new ClaimBuyerDataErased(c, "hana", at),
            };
            events.Add((c, e));
        }
        var transactions = new List<List<(Guid, object)>>();
        for (var i = 0; i < events.Count;)
        {
            var size = Math.Min(random.Next(1, 5), events.Count - i);
            transactions.Add(events.GetRange(i, size));
            i += size;
        }
        return transactions;
    }

    private async Task Append(IEnumerable<List<(Guid Stream, object Event)>> transactions)
    {
        foreach (var transaction in transactions)
        {
            await using var session = App.Store.LightweightSession();
            foreach (var (stream, e) in transaction) session.Events.Append(stream, e);
            await session.SaveChangesAsync();
        }
    }

    /// <summary>Every document's columns but <c>mt_last_modified</c> (the time it was written), one line each, by id.</summary>
    private async Task<string> Documents(bool versionInJson = true)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select id, {(versionInJson ? "data" : "data - 'version'")}::text, mt_version, mt_dotnet_type from {LedgerSetup.Schema}.mt_doc_claim order by id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var text = new System.Text.StringBuilder();
        while (await reader.ReadAsync()) text.AppendLine($"{reader.GetGuid(0)} {reader.GetString(1)} {reader.GetInt64(2)} {reader.GetString(3)}");
        return text.ToString();
    }

    private async Task<long> Count(string sql)
    {
        await using var connection = new NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>What folding each claim stream of the log gives (the definition), serialized as the store does.</summary>
    private async Task<Dictionary<Guid, string>> FoldOfTheLog()
    {
        await using var session = App.Store.QuerySession();
        var events = await session.Events.QueryAllRawEvents().OrderBy(e => e.Sequence).ToListAsync();
        var serializer = App.Store.Options.Serializer();
        return events.GroupBy(e => e.StreamId).Where(g => g.First().Data is ClaimFiled)
            .ToDictionary(g => g.Key, g => serializer.ToJson(Claim.Fold(g.OrderBy(e => e.Version).Select(e => e.Data)) with { Version = 0 }));
    }

    private async Task ShouldHoldTheFoldOfTheLog()
    {
        var expected = await FoldOfTheLog();
        await using var session = App.Store.QuerySession();
        var documents = await session.Query<Claim>().ToListAsync();
        var serializer = App.Store.Options.Serializer();
        documents.Count.ShouldBe(expected.Count);
        foreach (var document in documents)
            JsonDocument.Parse(serializer.ToJson(document with { Version = 0 })).RootElement.GetRawText().ShouldBe(JsonDocument.Parse(expected[document.Id]).RootElement.GetRawText(), document.Reference);
    }

    [Fact]
    public async Task the_rebuild_writes_the_documents_the_inline_snapshot_and_marten_s_daemon_write_into_a_table_marten_finds_unchanged()
    {
        foreach (var seed in new[] { 5, 17 })
        {
            await App.ResetAsync();
            await Append(History(seed));
            // Appended without FetchForWriting (Marten's quick append numbers the versions in the database), the inline snapshot leaves
            // the document's Version member 0 in the JSON; the service's own writes and Marten's daemon put the stream version there.
            var inline = await Documents(versionInJson: false);
            inline.ShouldNotBeEmpty();

            var result = await ClaimSnapshotRebuild.RunAsync(App.Store, null, CancellationToken.None);
            result.Documents.ShouldBe((int)await Count($"select count(*) from {LedgerSetup.Schema}.mt_doc_claim"));
            (await Documents(versionInJson: false)).ShouldBe(inline, $"seed {seed}");
            (await Count($"select count(*) from {LedgerSetup.Schema}.mt_doc_claim where (data ->> 'version')::bigint <> mt_version")).ShouldBe(0);
            var rebuilt = await Documents();
            (await Count($"select count(*) from pg_namespace where nspname = '{Shadow}'")).ShouldBe(0);
            // The table swapped in is Marten's own: its schema check (what the service runs at start) finds nothing to change.
            await App.Store.Storage.Database.AssertDatabaseMatchesConfigurationAsync();

            using (var daemon = await App.Store.BuildProjectionDaemonAsync())
                await daemon.RebuildProjectionAsync(ClaimSnapshotRebuild.ProjectionName, TimeSpan.FromMinutes(1), CancellationToken.None);
            (await Documents()).ShouldBe(rebuilt, $"seed {seed}, daemon");
        }
        await ShouldHoldTheFoldOfTheLog();
        // The `rebuild` command routes the claim snapshot here.
        LedgerRebuild.AllNames(App.Store).ShouldContain(ClaimSnapshotRebuild.ProjectionName);
    }

    private async Task WaitForAWriterBlockedOnTheClaims()
    {
        for (var tries = 0; tries < 200; tries++)
        {
            if (await Count($"select count(*) from pg_locks where not granted and relation = '{LedgerSetup.Schema}.mt_doc_claim'::regclass") > 0) return;
            await Task.Delay(50);
        }
        throw new TimeoutException("No writer came to wait for the locked claim table.");
    }

    [Fact]
    public async Task a_rebuild_while_claims_are_decided_loses_nothing_and_swaps_in_what_a_quiet_rebuild_gives()
    {
        var history = History(29);
        var split = history.Count * 2 / 3;
        await Append(history.Take(split));
        var during = history.Skip(split).ToList();
        var at = Instant.FromUtc(2011, 6, 1, 8, 0);
        var late = Guid.CreateVersion7();
        var lastMinute = Guid.CreateVersion7();

        NpgsqlConnection? heldConnection = null;
        NpgsqlTransaction? held = null;
        Task? blocked = null;
        await using var closeHeld = new AsyncDisposer(async () => { if (heldConnection is not null) await heldConnection.DisposeAsync(); });
        var result = await ClaimSnapshotRebuild.RunWithPhasesAsync(App.Store, async phase =>
        {
            switch (phase)
            {
                case ClaimSnapshotRebuild.Phase.TableCreated:
                    // A transaction takes its sequence numbers (a claim filed and verified) and stays open past the first pass while later
                    // ones commit: the pass sees numbers above it and must come back for it.
                    heldConnection = (NpgsqlConnection)App.Store.Storage.Database.CreateConnection();
                    await heldConnection.OpenAsync();
                    held = await heldConnection.BeginTransactionAsync();
                    await using (var session = App.Store.LightweightSession(Marten.Services.SessionOptions.ForTransaction(held)))
                    {
                        session.Events.Append(late, Filing(late, "CL-LATE", at), new ClaimVerified(late, VerificationResult.VerifiedEligible, [], [], "vera", at));
                        await session.SaveChangesAsync();
                    }
                    await Append(during.Take(during.Count / 2));
                    break;
                case ClaimSnapshotRebuild.Phase.FirstPassDone:
                    await held!.CommitAsync();
                    await Append(during.Skip(during.Count / 2));
                    break;
                case ClaimSnapshotRebuild.Phase.DocumentsWritten:
                    // After the last catch-up pass: folded in the swap.
                    await Append([[(late, new ClaimApproved(late, Computation(), null, "abe", at + Duration.FromHours(1)))]]);
                    break;
                case ClaimSnapshotRebuild.Phase.LiveTableLocked:
                    // A decision and a filing arriving during the swap wait for it, then write to the new table.
                    blocked = Append([[(late, new ClaimAppealed(late, "grounds", "hana", at + Duration.FromDays(1))), (lastMinute, Filing(lastMinute, "CL-LAST", at + Duration.FromDays(1)))]]);
                    await WaitForAWriterBlockedOnTheClaims();
                    break;
            }
        }, CancellationToken.None);
        await blocked!;

        result.StreamsFoldedAgain.ShouldBeGreaterThan(0);
        await using (var session = App.Store.QuerySession())
        {
            var lateClaim = await session.LoadAsync<Claim>(late);
            lateClaim!.Status.ShouldBe(ClaimStatus.UnderAppeal);
            (await Count($"select mt_version from {LedgerSetup.Schema}.mt_doc_claim where id = '{late}'")).ShouldBe(4);
            (await session.LoadAsync<Claim>(lastMinute)).ShouldNotBeNull();
        }
        await ShouldHoldTheFoldOfTheLog();

        // The same documents as a rebuild with nothing else going on (but for the Version in the JSON of the claim the blocked writer
        // appended to without FetchForWriting, 0 there); and the schema it was built in is gone.
        var raced = await Documents(versionInJson: false);
        await ClaimSnapshotRebuild.RunAsync(App.Store, null, CancellationToken.None);
        (await Documents(versionInJson: false)).ShouldBe(raced);
        (await Count($"select count(*) from pg_namespace where nspname = '{Shadow}'")).ShouldBe(0);
    }

    [Fact]
    public async Task a_rebuild_cancelled_before_the_swap_leaves_the_live_table_as_it_was_and_one_runs_at_a_time()
    {
        await Append(History(41));
        var before = await Documents();
        var beforeButVersion = await Documents(versionInJson: false);

        using var cancel = new CancellationTokenSource();
        await Should.ThrowAsync<OperationCanceledException>(() => ClaimSnapshotRebuild.RunWithPhasesAsync(App.Store, async phase =>
        {
            if (phase == ClaimSnapshotRebuild.Phase.TableCreated)
                (await Should.ThrowAsync<InvalidOperationException>(() => ClaimSnapshotRebuild.RunAsync(App.Store, null, CancellationToken.None))).Message.ShouldContain("Another rebuild");
            if (phase == ClaimSnapshotRebuild.Phase.DocumentsWritten) await cancel.CancelAsync();
        }, cancel.Token));

        (await Documents()).ShouldBe(before);
        (await Count($"select count(*) from pg_namespace where nspname = '{Shadow}'")).ShouldBe(0);
        // Nothing is left holding the rebuild: the next one runs, beside a rebuild of the paid-vs-lost tables.
        await Task.WhenAll(
            ClaimSnapshotRebuild.RunAsync(App.Store, null, CancellationToken.None),
            CompensationLedger.Reports.ClaimTotalsRebuild.RunAsync(App.Store, null, CancellationToken.None));
        (await Documents(versionInJson: false)).ShouldBe(beforeButVersion);
    }

    [Fact]
    public async Task after_a_swap_the_service_files_decides_and_answers_claims_through_the_new_table()
    {
        var caseId = await App.OpenFlaggedCase();
        // Enough writes and reads before the swap that the service's statements are prepared (Npgsql auto-prepares repeated ones).
        var buyers = new List<BuyerCredentials>();
        var lookups = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var buyer = await App.FileForBuyer(caseId, paymentReference: $"TT-2011-00{i}", amount: 1400.00m + i);
            await App.Verify(buyer.ClaimId);
            lookups.Add((await App.Status(buyer)).GetRawText());
            buyers.Add(buyer);
        }
        var answers = await Task.WhenAll(buyers.Select(b => App.GetClaim(b.ClaimId)));

        await LedgerRebuild.RebuildAsync(App.Store, ClaimSnapshotRebuild.ProjectionName, TimeSpan.FromMinutes(1), null, CancellationToken.None);

        for (var i = 0; i < buyers.Count; i++)
            (await App.GetClaim(buyers[i].ClaimId)).GetRawText().ShouldBe(answers[i].GetRawText());
        for (var i = 0; i < buyers.Count; i++) (await App.Status(buyers[i])).GetRawText().ShouldBe(lookups[i]);

        // Writes after the swap land in the new table: a new filing, a verification, an approval.
        var after = await App.FileForBuyer(caseId, paymentReference: "TT-2011-0099", amount: 1499.00m);
        await App.Verify(after.ClaimId);
        var approve = await App.Act(App.Approver(), buyers[0].ClaimId, "approval", new { });
        await approve.ShouldBe(200);
        (await App.Status(buyers[0].ClaimId)).ShouldBe("approved");
        (await App.GetClaim(after.ClaimId)).GetProperty("reference").GetString().ShouldBe(after.Reference);
        (await App.Status(after)).GetProperty("reference").GetString().ShouldBe(after.Reference);
        await ShouldHoldTheFoldOfTheLog();
        await App.Store.Storage.Database.AssertDatabaseMatchesConfigurationAsync();
    }
}
