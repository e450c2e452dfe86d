using System.Text.Json;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Claims;
using CompensationLedger.IntegrationTests.Infrastructure;
using CompensationLedger.IntegrationTests.StatusLookup;
using Marten;
using NodaTime;

namespace CompensationLedger.IntegrationTests.Funds;

/// <summary>One transfer to one buyer: a round pays all of a buyer's claims in one payout, a returned one goes out again only with a second finance user's approval, and no buyer gets more than the cap.</summary>
public sealed class BuyerPayoutTests(LedgerApp app) : IntegrationTest(app)
{
    private const string Ann = "buyer:ann";

    [Fact]
    public async Task a_buyer_with_two_approved_claims_is_paid_in_one_payout_and_each_claim_sees_its_part()
    {
        var caseId = await App.OpenFlaggedCase();
        var fundId = await App.EstablishFund();
        await (await App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId })).ShouldBe(200);
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 10_000.00m, "DEP-1");

        var first = await App.FileForBuyer(caseId, "TT-JANE-1", 1400.00m);
        var second = await App.FileForBuyer(caseId, "TT-JANE-2", 500.00m);
        var other = await App.FileForBuyer(caseId, "TT-BOB-1", 1000.00m, buyer: "Bob Other");
        foreach (var claim in new[] { first, second, other })
        {
            await App.Verify(claim.ClaimId);
            await (await App.Act(App.Approver(), claim.ClaimId, "approval", new { })).ShouldBe(200);
        }
        await WaitForEntitlements(fundId, 3);

        App.Clock.Advance(Duration.FromDays(7));
        var prepared = await App.PrepareRound(fundId);
        var roundId = prepared.GetProperty("id").GetGuid();
        var round = await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).Json();

        // A released round's allocations are its payouts' claim lines (the snapshot keeps them once, in the payouts): shown as prepared.
        round.GetProperty("allocations").GetRawText().ShouldBe(prepared.GetProperty("allocations").GetRawText());
        round.GetProperty("total").GetRawText().ShouldBe(prepared.GetProperty("total").GetRawText());
        var payouts = round.GetProperty("payouts").EnumerateArray().ToList();
        payouts.Count.ShouldBe(2);
        var jane = payouts.Single(p => p.GetProperty("claimReferences").GetArrayLength() == 2);
        jane.GetProperty("claimReferences").EnumerateArray().Select(r => r.GetString()).ShouldBe([first.Reference, second.Reference]);
        jane.Amount("amount").ShouldBe(1_330.00m);
        jane.GetProperty("claimId").ValueKind.ShouldBe(JsonValueKind.Null);
        jane.GetProperty("claims").EnumerateArray().Select(l => (l.GetProperty("claimId").GetGuid(), l.Amount("amount")))
            .ShouldBe([(first.ClaimId, 980.00m), (second.ClaimId, 350.00m)]);
        payouts.Select(p => p.GetProperty("reference").GetString()).Distinct().Count().ShouldBe(2);

        // The bank settles the one transfer; each claim is paid its part.
        App.Clock.Advance(Duration.FromDays(2));
        var statement = await App.Finance().PostJson("/api/bank-statements", new
        {
            fundId,
            csv = $"date,reference,amount,currency,direction\n2011-04-22,{jane.GetProperty("reference").GetString()},1330.00,USD,debit\n",
        });
        await statement.ShouldBe(201);
        (await statement.Json()).GetProperty("lines").EnumerateArray().Single().GetProperty("match").GetString().ShouldBe("payout-settled");

        var firstStatus = await App.Status(first);
        firstStatus.GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBe(980.00m);
        var payment = firstStatus.GetProperty("payments").EnumerateArray().ShouldHaveSingleItem();
        payment.Amount("amount").ShouldBe(980.00m);
        payment.Amount("paymentTotal").ShouldBe(1_330.00m);
        payment.GetProperty("forClaims").EnumerateArray().Select(r => r.GetString()).ShouldBe([first.Reference, second.Reference]);
        (await App.Status(second)).GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBe(350.00m);
        (await App.Status(other)).GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBe(0m);

        var auditor = App.Client("audrey", Roles.Auditor);
        var report = await (await auditor.GetAsync($"/api/reports/paid-vs-lost?caseId={caseId}&groupBy=platform")).Json();
        report.GetProperty("total").GetProperty("paid").GetProperty("amount").GetDecimal().ShouldBe(1_330.00m);
        var owed = await (await App.Finance().GetAsync($"/api/funds/{fundId}/entitlements")).Json();
        owed.GetProperty("items").EnumerateArray().Where(e => e.Amount("settled") > 0m).Select(e => (e.GetProperty("claimId").GetGuid(), e.Amount("settled")))
            .ShouldBe([(first.ClaimId, 980.00m), (second.ClaimId, 350.00m)], ignoreOrder: true);

        var register = await (await auditor.GetAsync($"/api/reports/payout-register?fundId={fundId}")).Json();
        register.GetProperty("payouts").EnumerateArray().Single(l => l.GetProperty("status").GetString() == "settled")
            .GetProperty("claimReference").GetString().ShouldBe($"{first.Reference} {second.Reference}");
    }

    [Fact]
    public async Task the_funds_snapshot_stores_a_released_rounds_allocations_once_and_no_null_payout_members_and_reads_its_older_shape_alike()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 10_000.00m, "DEP-1");
        await App.Entitle(fundId, 1, 980.00m, buyer: Ann);
        await App.Entitle(fundId, 2, 500.00m, buyer: Ann);
        await App.Entitle(fundId, 3, 700.00m);
        var prepared = await App.PrepareRound(fundId);
        var roundId = prepared.GetProperty("id").GetGuid();
        await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).ShouldBe(200);
        var auditor = App.Client("audrey", Roles.Auditor);
        var released = await (await auditor.GetAsync($"/api/rounds/{roundId}")).Json();
        released.GetProperty("allocations").GetRawText().ShouldBe(prepared.GetProperty("allocations").GetRawText());
        released.GetProperty("payouts").GetArrayLength().ShouldBe(2);
        var fundView = (await App.GetFund(fundId)).GetProperty("rounds").EnumerateArray().Single();
        fundView.GetProperty("allocations").GetInt32().ShouldBe(3);
        fundView.Amount("total").ShouldBe(2_180.00m);

        // Decisions that answer with the whole fund read the released round's total from its payouts' rows (the snapshot keeps none).
        var withPolicy = await App.Finance().PostJson($"/api/funds/{fundId}/policies", new { policy = FundApi.Policy(effectiveFrom: "2011-07-01", minimum: 25m) });
        await withPolicy.ShouldBe(200);
        (await withPolicy.Json()).GetRawText().ShouldBe((await App.GetFund(fundId)).GetRawText());
        var covering = await App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId = await App.OpenFlaggedCase() });
        await covering.ShouldBe(200);
        (await covering.Json()).GetRawText().ShouldBe((await App.GetFund(fundId)).GetRawText());

        await using (var query = App.Store.QuerySession())
        {
            var shape = (await query.QueryAsync<string>('^', // the JSON path's '?' is not a parameter
                $"select concat_ws(',', jsonb_array_length(data -> 'rounds' -> ^::text -> 'allocations'), " +
                $"jsonb_path_exists(data, '$.payouts.*.* ? (@ == null)'), jsonb_path_exists(data, '$.payouts.*.claimLines'), " +
                $"jsonb_path_exists(data, '$.entitlements.*.allocated'), jsonb_path_exists(data, '$.entitlements.*.inTransit')) " +
                $"from {LedgerSetup.Schema}.mt_doc_fund where id = ^", CancellationToken.None, roundId.ToString(), fundId)).Single();
            shape.ShouldBe("0,f,f,f,f", "no allocations stored twice, no entitlements or payouts (they are rows)");
        }

        // A snapshot written before: the released round holds its allocations, the snapshot its payouts with every null member.
        await OlderFundSnapshots.PutPayoutsBackAsync(App.Store, fundId);
        await using (var session = App.Store.LightweightSession())
        {
            session.QueueSqlCommand(
                $"update {LedgerSetup.Schema}.mt_doc_fund f set data = jsonb_set(jsonb_set(f.data, array['rounds', ?, 'allocations'], " +
                $"(select e.data -> 'allocations' from {LedgerSetup.Schema}.mt_events e where e.stream_id = f.id and e.type = 'round_prepared')), '{{payouts}}', " +
                "(select jsonb_object_agg(p.key, p.value || '{\"claimId\":null,\"claimReference\":null,\"bankDetails\":null,\"reissueOf\":null," +
                "\"reissuedAs\":null,\"settledAt\":null,\"returnedAt\":null,\"returnReason\":null,\"pendingReissue\":null}'::jsonb) " +
                "from jsonb_each(f.data -> 'payouts') p)) where f.id = ?",
                roundId.ToString(), fundId);
            await session.SaveChangesAsync();
        }
        (await (await auditor.GetAsync($"/api/rounds/{roundId}")).Json()).GetRawText().ShouldBe(released.GetRawText());
        var payout = released.GetProperty("payouts")[0];
        var statement = await App.Finance().PostJson("/api/bank-statements", new
        {
            fundId,
            csv = $"date,reference,amount,currency,direction\n2011-04-22,{payout.GetProperty("reference").GetString()},{payout.Amount("amount").ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)},USD,debit\n",
        });
        await statement.ShouldBe(201);
        (await statement.Json()).GetProperty("lines").EnumerateArray().Single().GetProperty("match").GetString().ShouldBe("payout-settled");
    }

    [Fact]
    public async Task a_returned_buyer_payout_is_reissued_only_when_another_finance_user_approves_the_new_bank_details()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 5_000.00m, "DEP-1");
        var claim1 = await App.Entitle(fundId, 1, 600.00m, buyer: Ann);
        var claim2 = await App.Entitle(fundId, 2, 400.00m, buyer: Ann);
        var payoutId = await ReleasedAndReturned(fundId);

        var prepared = await App.Finance("fiona").PostJson($"/api/payouts/{payoutId}/reissue",
            new { bankDetails = new { accountHolder = "Ann Buyer", accountNumber = "GB29 NWBK 6016 1331 9268 19" } });
        await prepared.ShouldBe(202);
        var pending = (await prepared.Json()).GetProperty("pendingReissue");
        pending.GetProperty("preparedBy").GetString().ShouldBe("fiona");
        pending.GetProperty("bankDetails").GetProperty("accountNumber").GetString()!.ShouldNotContain("NWBK");
        (await App.GetFund(fundId)).Pool(poolId).Amount("inTransit").ShouldBe(0m);

        var again = await App.Finance("frank").PostJson($"/api/payouts/{payoutId}/reissue", new { bankDetails = new { accountHolder = "Mallory", accountNumber = "99999999" } });
        (await again.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("reissue-already-prepared");

        // Wrong details prepared: withdrawn (a reason is required), then prepared again.
        var noReason = await App.Finance("frank").PostJson($"/api/payouts/{payoutId}/reissue/withdrawal", new { reason = "" });
        (await noReason.ShouldBeProblem(400)).ErrorFields().ShouldContain("reason");
        var withdrawn = await App.Finance("frank").PostJson($"/api/payouts/{payoutId}/reissue/withdrawal", new { reason = "wrong account" });
        await withdrawn.ShouldBe(200);
        (await withdrawn.Json()).GetProperty("pendingReissue").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        var nothingToWithdraw = await App.Finance("frank").PostJson($"/api/payouts/{payoutId}/reissue/withdrawal", new { reason = "again" });
        (await nothingToWithdraw.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("reissue-not-prepared");
        await (await App.Finance("fiona").PostJson($"/api/payouts/{payoutId}/reissue",
            new { bankDetails = new { accountHolder = "Ann Buyer", accountNumber = "GB29 NWBK 6016 1331 9268 19" } })).ShouldBe(202);

        var events = await App.EventCount();
        var samePerson = await App.Finance("FIONA").PostJson($"/api/payouts/{payoutId}/reissue/approval", new { });
        (await samePerson.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("four-eyes");
        (await App.EventCount()).ShouldBe(events);
        (await App.Client("audrey", Roles.Auditor).PostJson($"/api/payouts/{payoutId}/reissue/approval", new { })).StatusCode.ShouldBe(System.Net.HttpStatusCode.Forbidden);

        var approved = await App.Finance("frank").PostJson($"/api/payouts/{payoutId}/reissue/approval", new { });
        await approved.ShouldBe(201);
        var reissued = await approved.Json();
        reissued.GetProperty("reissueOf").GetGuid().ShouldBe(payoutId);
        reissued.Amount("amount").ShouldBe(1_000.00m);
        reissued.GetProperty("issuedBy").GetString().ShouldBe("frank");
        reissued.GetProperty("bankDetails").GetProperty("accountNumber").GetString()!.ShouldEndWith("6819");
        reissued.GetProperty("claims").EnumerateArray().Select(l => (l.GetProperty("claimId").GetGuid(), l.Amount("amount")))
            .ShouldBe([(claim1, 600.00m), (claim2, 400.00m)]);
        (await App.GetFund(fundId)).Pool(poolId).Amount("inTransit").ShouldBe(1_000m);

        await using var session = App.Store.QuerySession();
        var reissue = (await session.Events.QueryAllRawEvents().ToListAsync()).Select(e => e.Data).OfType<CompensationLedger.Funds.PayoutReissued>().Single();
        (reissue.PreparedBy, reissue.ReissuedBy).ShouldBe(("fiona", "frank"));
    }

    [Fact]
    public async Task ten_approvals_of_one_prepared_reissue_at_once_send_the_money_once()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 5_000.00m, "DEP-1");
        await App.Entitle(fundId, 1, 600.00m, buyer: Ann);
        var payoutId = await ReleasedAndReturned(fundId);
        await (await App.Finance("fiona").PostJson($"/api/payouts/{payoutId}/reissue",
            new { bankDetails = new { accountHolder = "Ann Buyer", accountNumber = "12345678" } })).ShouldBe(202);

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => App.Finance($"approver{i}").PostJson($"/api/payouts/{payoutId}/reissue/approval", new { })));

        responses.Count(r => (int)r.StatusCode == 201).ShouldBe(1);
        foreach (var refused in responses.Where(r => (int)r.StatusCode != 201))
            (await refused.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBeOneOf("payout-already-reissued", "concurrent-change");
        var pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("inTransit").ShouldBe(600m);
        pool.Amount("available").ShouldBe(4_400m);
    }

    [Fact]
    public async Task a_round_pays_no_buyer_more_than_the_cap_per_buyer()
    {
        var fundId = await App.EstablishFund(FundApi.FairPlayFund(capPerBuyer: 1_000.00m));
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 10_000.00m, "DEP-1");
        await App.Entitle(fundId, 2, 800.00m, buyer: Ann);
        await App.Entitle(fundId, 1, 800.00m, buyer: Ann);
        await App.Entitle(fundId, 3, 800.00m, buyer: "buyer:bob");

        var round = await App.PrepareRound(fundId);

        round.GetProperty("allocations").EnumerateArray().Select(a => (a.GetProperty("claimReference").GetString(), a.Amount("amount")))
            .ShouldBe([("CL-2011-000001", 800.00m), ("CL-2011-000002", 200.00m), ("CL-2011-000003", 800.00m)]);
        await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{round.GetProperty("id").GetGuid()}/release", new { })).ShouldBe(200);

        // Ann's second claim is still owed 600 of its entitlement, but the cap keeps it from being paid: finance sees both.
        var entitlements = (await (await App.Finance().GetAsync($"/api/funds/{fundId}/entitlements")).Json()).GetProperty("items").EnumerateArray()
            .ToDictionary(e => e.GetProperty("claimReference").GetString()!);
        entitlements["CL-2011-000002"].Amount("stillOwed").ShouldBe(600.00m);
        entitlements["CL-2011-000002"].Amount("payableUnderCap").ShouldBe(0m);
        entitlements["CL-2011-000003"].Amount("payableUnderCap").ShouldBe(0m);
        var totals = (await (await App.Finance().GetAsync($"/api/funds/{fundId}")).Json()).GetProperty("entitlements");
        totals.Amount("stillOwed").ShouldBe(600.00m);
        totals.Amount("payableUnderCap").ShouldBe(0m);

        var next = await App.Finance().PostJson($"/api/funds/{fundId}/rounds", new { });
        (await next.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBe("buyer-cap-reached");
        (await App.GetFund(fundId)).Pool(poolId).Amount("inTransit").ShouldBe(1_800m);
    }

    /// <summary>A round paid and released by two people, and its one payout returned by the bank.</summary>
    [Fact]
    public async Task migration_0007_fills_the_case_coverage_fund_terms_and_payout_claims_as_the_projections_do()
    {
        // Funds, coverages and payouts (one paying two claims of one buyer) made through the projections, as before the migration.
        var caseId = await App.OpenFlaggedCase();
        var fundId = await App.EstablishFund();
        await (await App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId })).ShouldBe(200);
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 10_000.00m, "DEP-1");
        var claims = new[]
        {
            await App.FileForBuyer(caseId, "TT-JANE-1", 1400.00m), await App.FileForBuyer(caseId, "TT-JANE-2", 500.00m),
            await App.FileForBuyer(caseId, "TT-BOB-1", 1000.00m, buyer: "Bob Other"),
        };
        foreach (var claim in claims)
        {
            await App.Verify(claim.ClaimId);
            await (await App.Act(App.Approver(), claim.ClaimId, "approval", new { })).ShouldBe(200);
        }
        await WaitForEntitlements(fundId, 3);
        App.Clock.Advance(Duration.FromDays(7));
        var roundId = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).ShouldBe(200);
        await CompensationLedger.Demo.PutianDemo.SeedAsync(App.Store, App.Clock);
        await CompensationLedger.Demo.FairPlayFundDemo.SeedAsync(App.Store, App.Clock);

        const string schema = CompensationLedger.Infrastructure.LedgerSetup.Schema;
        string[] queries =
        [
            $"select id::text || ' ' || data::text || ' ' || coalesce(mt_dotnet_type, '') from {schema}.mt_doc_casecoverage order by id",
            // Not mt_version: the projection writes the version of the last event of the append that touched the terms, the
            // migration the fund's version (the same or later; every later event of the stream is later still).
            $"select id::text || ' ' || data::text || ' ' || coalesce(mt_dotnet_type, '') from {schema}.mt_doc_fundterms order by id",
            $"select claim_id::text || ' ' || payout_id::text || ' ' || fund_id::text || ' ' || amount::text from {schema}.report_payout_claims order by claim_id, payout_id",
        ];
        await using var connection = (Npgsql.NpgsqlConnection)App.Store.Storage.Database.CreateConnection();
        await connection.OpenAsync();
        async Task<string[]> Rows(string sql)
        {
            await using var command = new Npgsql.NpgsqlCommand(sql, connection);
            await using var reader = await command.ExecuteReaderAsync();
            var rows = new List<string>();
            while (await reader.ReadAsync()) rows.Add(reader.GetString(0));
            return rows.ToArray();
        }
        var projected = new List<string[]>();
        foreach (var sql in queries) projected.Add(await Rows(sql));
        projected[0].Length.ShouldBeGreaterThanOrEqualTo(2);
        projected[1].Length.ShouldBeGreaterThanOrEqualTo(2);
        projected[2].Length.ShouldBeGreaterThanOrEqualTo(3);

        // The migration reads the fund snapshots of its time, which held every payout.
        await OlderFundSnapshots.PutPayoutsBackAsync(App.Store);
        var script = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "migrations", "0007_case_coverage.sql"));
        var backfill = script[script.IndexOf("-- ===== backfill", StringComparison.Ordinal)..];
        await using (var empty = new Npgsql.NpgsqlCommand(
            $"delete from {schema}.mt_doc_casecoverage; delete from {schema}.mt_doc_fundterms; delete from {schema}.report_payout_claims;", connection))
            await empty.ExecuteNonQueryAsync();
        await using (var fill = new Npgsql.NpgsqlCommand(backfill, connection)) await fill.ExecuteNonQueryAsync();

        for (var i = 0; i < queries.Length; i++) (await Rows(queries[i])).ShouldBe(projected[i], queries[i]);
    }

    private async Task<Guid> ReleasedAndReturned(Guid fundId)
    {
        var roundId = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        var round = await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).Json();
        var payoutId = round.GetProperty("payouts").EnumerateArray().Single().GetProperty("id").GetGuid();
        await (await App.Finance().PostJson($"/api/payouts/{payoutId}/return", new { reason = "account closed" })).ShouldBe(200);
        return payoutId;
    }

    private async Task WaitForEntitlements(Guid fundId, int expected)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var page = await (await App.Finance().GetAsync($"/api/funds/{fundId}/entitlements")).Json();
            if (page.GetProperty("items").GetArrayLength() >= expected) return;
            await Task.Delay(100);
        }
        throw new TimeoutException("The approvals did not reach the fund.");
    }
}
