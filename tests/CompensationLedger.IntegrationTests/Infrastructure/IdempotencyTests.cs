using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Claims;

namespace CompensationLedger.IntegrationTests.Infrastructure;

public sealed class IdempotencyTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task repeating_a_request_with_the_same_key_returns_the_first_answer_and_appends_nothing()
    {
        var client = App.Client("ivy", Roles.Investigator);
        var first = await client.PostJson("/api/cases", CaseApi.PutianLike(), idempotencyKey: "open-putian-1");
        await first.ShouldBe(201);
        var firstBody = await first.Content.ReadAsStringAsync();
        var events = await App.EventCount();

        var repeat = await client.PostJson("/api/cases", CaseApi.PutianLike(), idempotencyKey: "open-putian-1");

        await repeat.ShouldBe(201);
        (await repeat.Content.ReadAsStringAsync()).ShouldBe(firstBody);
        repeat.Headers.Location.ShouldBe(first.Headers.Location);
        repeat.Headers.GetValues(IdempotencyMiddleware.ReplayedHeader).ShouldBe(["true"]);
        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task the_same_key_with_another_body_is_refused_and_changes_nothing()
    {
        var client = App.Client("ivy", Roles.Investigator);
        await (await client.PostJson("/api/cases", CaseApi.PutianLike("First"), idempotencyKey: "k-1")).ShouldBe(201);
        var events = await App.EventCount();

        var other = await client.PostJson("/api/cases", CaseApi.PutianLike("Second"), idempotencyKey: "k-1");

        var problem = await other.ShouldBeProblem(422);
        problem.GetProperty("code").GetString().ShouldBe("idempotency-key-reused");
        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task twenty_concurrent_requests_with_one_key_have_one_effect()
    {
        var client = App.Client("ivy", Roles.Investigator);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20)
            .Select(_ => client.PostJson("/api/cases", CaseApi.PutianLike(), idempotencyKey: "burst")));

        responses.ShouldAllBe(r => (int)r.StatusCode == 201);
        var ids = await Task.WhenAll(responses.Select(async r => (await r.Json()).GetProperty("id").GetGuid()));
        ids.Distinct().Count().ShouldBe(1);
        (await App.EventCount()).ShouldBe(1);
    }

    [Fact]
    public async Task keys_belong_to_the_person_who_sent_them()
    {
        await (await App.Client("ivy", Roles.Investigator).PostJson("/api/cases", CaseApi.PutianLike("Ivy's"), idempotencyKey: "shared")).ShouldBe(201);
        await (await App.Client("ian", Roles.Investigator).PostJson("/api/cases", CaseApi.PutianLike("Ian's"), idempotencyKey: "shared")).ShouldBe(201);
        (await App.EventCount()).ShouldBe(2);
    }

    [Fact]
    public async Task the_answer_is_stored_and_committed_with_the_key_and_no_connection_is_left_in_a_transaction()
    {
        // The middleware sends its row's update and COMMIT as one batch (issue #7): the row must be committed with the
        // response, and Npgsql must know the transaction ended (a pooled connection left "idle in transaction" would hold locks).
        var client = App.Client("ivy", Roles.Investigator);
        await (await client.PostJson("/api/cases", CaseApi.PutianLike(), idempotencyKey: "committed-1")).ShouldBe(201);

        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        var schema = App.Store.Options.DatabaseSchemaName;
        await using (var row = new Npgsql.NpgsqlCommand($"select status from {schema}.{IdempotencyMiddleware.TableName} where key = 'committed-1'", connection))
            (await row.ExecuteScalarAsync()).ShouldBe(201);
        await using var open = new Npgsql.NpgsqlCommand(
            "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and state like 'idle in transaction%'", connection);
        ((long)(await open.ExecuteScalarAsync())!).ShouldBe(0);
    }

    [Fact]
    public async Task a_refused_request_is_remembered_too()
    {
        var client = App.Client("ivy", Roles.Investigator);
        var caseId = await App.OpenCase();
        var flag = new { accounts = new[] { new { platform = "DHgate.com", accountId = "x", displayName = "X" } } };

        await (await client.PostJson($"/api/cases/{caseId}/supplier-accounts", flag, idempotencyKey: "flag-1")).ShouldBeProblem(409);
        var repeat = await client.PostJson($"/api/cases/{caseId}/supplier-accounts", flag, idempotencyKey: "flag-1");

        await repeat.ShouldBeProblem(409);
        repeat.Headers.Contains(IdempotencyMiddleware.ReplayedHeader).ShouldBeTrue();
    }

    [Fact]
    public async Task an_overlong_key_is_invalid()
    {
        var problem = await (await App.Client("ivy", Roles.Investigator).PostJson("/api/cases", CaseApi.PutianLike(), idempotencyKey: new string('k', 201)))
            .ShouldBeProblem(400);
        problem.ErrorFields().ShouldBe([IdempotencyMiddleware.Header]);
        (await App.EventCount()).ShouldBe(0);
    }

    // A filing keeps its key in its own transaction (IdempotentInTransaction): one commit, and no window in which the claim is
    // filed but its key is not kept.

    [Fact]
    public async Task a_filings_key_is_committed_in_the_same_transaction_as_the_claim()
    {
        var caseId = await App.OpenFlaggedCase();
        var filed = await App.Handler().PostJson("/api/claims", ClaimApi.Filing(caseId), idempotencyKey: "file-tx-1");
        await filed.ShouldBe(201);
        var claimId = (await filed.Json()).GetProperty("id").GetGuid();

        await using var connection = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await connection.OpenAsync();
        var schema = App.Store.Options.DatabaseSchemaName;
        await using var row = new Npgsql.NpgsqlCommand(
            $"select k.status, k.location, k.body, k.xmin::text = c.xmin::text from {schema}.{IdempotencyMiddleware.TableName} k, {schema}.mt_doc_claim c " +
            "where k.key = 'file-tx-1' and c.id = @id", connection);
        row.Parameters.AddWithValue("id", claimId);
        await using var reader = await row.ExecuteReaderAsync();
        (await reader.ReadAsync()).ShouldBeTrue();
        reader.GetInt32(0).ShouldBe(201);
        reader.GetString(1).ShouldBe(filed.Headers.Location!.ToString());
        reader.GetFieldValue<byte[]>(2).ShouldBeEmpty(); // the access code is in the body: not kept
        reader.GetBoolean(3).ShouldBeTrue(); // written by the claim's transaction
    }

    [Fact]
    public async Task twenty_concurrent_filings_with_one_key_file_one_claim_and_all_answer_its_location()
    {
        var caseId = await App.OpenFlaggedCase();
        var handler = App.Handler();

        var responses = await Task.WhenAll(Enumerable.Range(0, 20)
            .Select(_ => handler.PostJson("/api/claims", ClaimApi.Filing(caseId), idempotencyKey: "file-burst")));

        foreach (var response in responses) await response.ShouldBe(201);
        responses.Select(r => r.Headers.Location!.ToString()).Distinct().Count().ShouldBe(1);
        responses.Count(r => !r.Headers.Contains(IdempotencyMiddleware.ReplayedHeader)).ShouldBe(1);
        await using var session = App.Store.QuerySession();
        (await Marten.QueryableExtensions.CountAsync(session.Query<CompensationLedger.Claims.Claim>().Where(c => c.CaseId == caseId))).ShouldBe(1);
    }

    [Fact]
    public async Task a_refused_filing_is_remembered_with_its_key_and_the_same_key_with_another_body_is_refused()
    {
        var unknownCase = Guid.NewGuid();
        await (await App.Handler().PostJson("/api/claims", ClaimApi.Filing(unknownCase), idempotencyKey: "file-404")).ShouldBeProblem(404);
        var repeat = await App.Handler().PostJson("/api/claims", ClaimApi.Filing(unknownCase), idempotencyKey: "file-404");
        await repeat.ShouldBeProblem(404);
        repeat.Headers.Contains(IdempotencyMiddleware.ReplayedHeader).ShouldBeTrue();

        var caseId = await App.OpenFlaggedCase();
        await (await App.Handler().PostJson("/api/claims", ClaimApi.Filing(caseId), idempotencyKey: "file-2")).ShouldBe(201);
        var events = await App.EventCount();
        var other = await App.Handler().PostJson("/api/claims", ClaimApi.Filing(caseId, paymentReference: "TT-OTHER-1"), idempotencyKey: "file-2");
        (await other.ShouldBeProblem(422)).GetProperty("code").GetString().ShouldBe("idempotency-key-reused");
        (await App.EventCount()).ShouldBe(events);
    }
}
