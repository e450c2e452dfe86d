using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Infrastructure;

namespace CompensationLedger.IntegrationTests.Funds;

/// <summary>The whole money path over HTTP: deposit, entitlements, round, release by a second person, bank statement, settled/returned, reissue.</summary>
public sealed class BankStatementTests(LedgerApp app) : IntegrationTest(app)
{
    /// <summary>One property of the fund's stored snapshot, as JSON text (null when absent).</summary>
    private async Task<string?> SnapshotText(Guid fundId, string property)
    {
        await using var session = App.Store.QuerySession();
        return (await session.QueryAsync<string>($"select (data -> '{property}')::text from {LedgerSetup.Schema}.mt_doc_fund where id = ?", fundId)).Single();
    }

    [Fact]
    public async Task a_statement_settles_and_returns_payouts_by_reference_and_amount_and_importing_it_again_changes_nothing()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 2_000.00m, "SPONSOR-1");
        await App.Entitle(fundId, 1, 980.00m);
        await App.Entitle(fundId, 2, 500.00m);
        var roundId = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        var round = await (await App.Finance(FundApi.Releaser).PostJson($"/api/rounds/{roundId}/release", new { })).Json();
        var payouts = round.GetProperty("payouts").EnumerateArray().ToDictionary(p => p.GetProperty("claimReference").GetString()!, p => p);
        var settled = payouts["CL-2011-000001"];
        var bounced = payouts["CL-2011-000002"];
        var csv = $"""
            date,reference,amount,currency,direction
            2011-04-12,{settled.GetProperty("reference").GetString()},980.00,USD,debit
            2011-04-14,{bounced.GetProperty("reference").GetString()},500.00,USD,credit
            2011-04-11,SPONSOR-1,2000.00,USD,credit
            2011-04-15,FEE-APRIL,25.00,USD,debit
            """;

        var imported = await App.Finance().PostJson("/api/bank-statements", new { fundId, csv });

        await imported.ShouldBe(201);
        var result = await imported.Json();
        result.GetProperty("alreadyImported").GetBoolean().ShouldBeFalse();
        result.GetProperty("lines").EnumerateArray().Select(l => l.GetProperty("match").GetString())
            .ShouldBe(["payout-settled", "payout-returned", "deposit", "unmatched"]);
        var pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("settled").ShouldBe(980m);
        pool.Amount("returned").ShouldBe(500m);
        pool.Amount("inTransit").ShouldBe(0m);
        pool.Amount("available").ShouldBe(1_020m);

        var statementId = result.GetProperty("statementId").GetString();
        var stored = await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/funds/{fundId}/bank-statements/{statementId}")).Json();
        stored.GetProperty("lines").EnumerateArray().Count(l => l.GetProperty("match").GetString() == "unmatched").ShouldBe(1);
        // The statement's lines come back as imported (from the report table); the fund's snapshot keeps its id, not its lines.
        stored.GetProperty("lines").GetRawText().ShouldBe(result.GetProperty("lines").GetRawText());
        await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/funds/{Guid.NewGuid()}/bank-statements/{statementId}")).ShouldBeProblem(404);
        await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/funds/{fundId}/bank-statements/{new string('0', 64)}")).ShouldBeProblem(404);
        (await SnapshotText(fundId, "statementIds")).ShouldBe($"[\"{statementId}\"]");
        (await SnapshotText(fundId, "statements")).ShouldBe("{}");

        var events = await App.EventCount();
        var again = await App.Finance("fatima").PostJson("/api/bank-statements", new { fundId, csv = csv.Replace("\n", "\r\n", StringComparison.Ordinal) });
        await again.ShouldBe(200);
        var replayed = await again.Json();
        replayed.GetProperty("alreadyImported").GetBoolean().ShouldBeTrue();
        replayed.GetProperty("lines").GetRawText().ShouldBe(result.GetProperty("lines").GetRawText());
        (await App.EventCount()).ShouldBe(events);

        // A snapshot written before statements were kept by id (the lines inside it, no ids): the statement is still known.
        await using (var session = App.Store.LightweightSession())
        {
            session.QueueSqlCommand(
                $"update {LedgerSetup.Schema}.mt_doc_fund f set data = (f.data - 'statementIds') || jsonb_build_object('statements', jsonb_build_object(?, " +
                $"(select e.data -> 'lines' from {LedgerSetup.Schema}.mt_events e where e.stream_id = f.id and e.type = 'bank_statement_imported'))) where f.id = ?",
                statementId!, fundId);
            await session.SaveChangesAsync();
        }
        (await SnapshotText(fundId, "statementIds")).ShouldBeNull();
        var fromOldSnapshot = await App.Finance("fatima").PostJson("/api/bank-statements", new { fundId, csv });
        await fromOldSnapshot.ShouldBe(200);
        (await fromOldSnapshot.Json()).GetProperty("lines").GetRawText().ShouldBe(result.GetProperty("lines").GetRawText());
        (await App.EventCount()).ShouldBe(events);

        await (await App.Finance().PostJson($"/api/payouts/{bounced.GetProperty("id").GetGuid()}/reissue",
            new { bankDetails = new { accountHolder = "Bob Buyer", accountNumber = "DE89 3704 0044 0532 0130 00", country = "DE" } })).ShouldBe(202);
        var reissue = await App.Finance(FundApi.Releaser).PostJson($"/api/payouts/{bounced.GetProperty("id").GetGuid()}/reissue/approval", new { });
        await reissue.ShouldBe(201);
        var reissued = await reissue.Json();
        var reissuedReference = reissued.GetProperty("reference").GetString();
        reissuedReference.ShouldBe(bounced.GetProperty("reference").GetString() + "-R1");

        var next = await App.Finance().PostJson("/api/bank-statements", new
        {
            fundId,
            csv = $"date,reference,amount,currency,direction\n2011-04-20,{reissuedReference},500.00,USD,debit\n",
        });
        await next.ShouldBe(201);
        pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("settled").ShouldBe(1_480m);
        pool.Amount("available").ShouldBe(520m);
        var settledPayouts = await (await App.Client("audrey", Roles.Auditor).GetAsync($"/api/payouts?status=settled&fundId={fundId}")).Json();
        settledPayouts.GetProperty("totalCount").GetInt64().ShouldBe(2);
    }

    public static TheoryData<string, string, string> BadStatements => new()
    {
        { "no csv", """{"fundId":"0195a2c0-0000-7000-8000-000000000001"}""", "csv" },
        { "no header", """{"fundId":"0195a2c0-0000-7000-8000-000000000001","csv":"2011-04-12,PO-1,1.00,USD,debit"}""", "csv" },
        { "bad amount", """{"fundId":"0195a2c0-0000-7000-8000-000000000001","csv":"date,reference,amount,currency,direction\n2011-04-12,PO-1,abc,USD,debit"}""", "csv.lines[2].amount" },
        { "bad direction", """{"fundId":"0195a2c0-0000-7000-8000-000000000001","csv":"date,reference,amount,currency,direction\n2011-04-12,PO-1,1.00,USD,up"}""", "csv.lines[2].direction" },
        { "missing column", """{"fundId":"0195a2c0-0000-7000-8000-000000000001","csv":"date,reference,amount,currency,direction\n2011-04-12,PO-1,1.00,USD"}""", "csv.lines[2]" },
        { "missing fund", """{"csv":"date,reference,amount,currency,direction\n2011-04-12,PO-1,1.00,USD,debit"}""", "fundId" },
    };

    [Theory]
    [MemberData(nameof(BadStatements))]
    public async Task a_bad_statement_is_a_400_naming_the_field(string what, string body, string field)
    {
        var response = await App.Finance().PostRaw("/api/bank-statements", body);

        var problem = await response.ShouldBeProblem(400);
        problem.ErrorFields().ShouldContain(field, what);
        (await App.EventCount()).ShouldBe(0);
    }

    [Fact]
    public async Task a_statement_in_another_currency_than_the_fund_is_a_400_and_for_an_unknown_fund_a_404()
    {
        var fundId = await App.EstablishFund();
        var events = await App.EventCount();

        var wrong = await App.Finance().PostJson("/api/bank-statements", new { fundId, csv = "date,reference,amount,currency,direction\n2011-04-12,PO-1,1.00,EUR,debit" });
        (await wrong.ShouldBeProblem(400)).ErrorFields().ShouldContain("csv.lines[2].currency");
        (await App.EventCount()).ShouldBe(events);

        var unknown = await App.Finance().PostJson("/api/bank-statements", new { fundId = Guid.NewGuid(), csv = "date,reference,amount,currency,direction\n2011-04-12,PO-1,1.00,USD,debit" });
        await unknown.ShouldBeProblem(404);
    }
}
