using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Funds;
using CompensationLedger.IntegrationTests.Infrastructure;
using NodaTime;
using Npgsql;
using NpgsqlTypes;

namespace CompensationLedger.Benchmarks;

/// <summary>
/// Scenario 2: the whole way for N claims over HTTP, stage by stage: file, verify, approve (each at
/// <c>clients</c> concurrent clients), the approvals' entitlements reaching the fund (a durable message per
/// approval, one fund stream), one distribution round prepared and released over all of them, and the bank
/// statement(s) that settle every payout. The baseline does each stage's unavoidable database work by hand
/// (<see cref="LifecycleBaseline"/>). Each stage has a time limit; a stage that hits it stops the scenario and
/// says so in the notes (later stages are then not run). <c>stageDone</c> hears each service stage's name as it ends (where the
/// service's peak memory was reached).
/// </summary>
public sealed class Lifecycle(Func<string, string, HttpClient> staff, string ledgerDb, string baselineDb, List<Measurement> results, List<string> notes, Action<string> log,
    Action<string>? stageDone = null)
{
    public async Task RunAsync(int n, int clients, TimeSpan stageLimit, TimeSpan entitlementLimit, LocalDate today)
    {
        var investigator = staff("ivy", Roles.Investigator);
        var handler = staff("hana", Roles.ClaimsHandler);
        var approver = staff("abe", Roles.ClaimsApprover);
        var preparer = staff(FundApi.Preparer, Roles.Finance);
        var releaser = staff(FundApi.Releaser, Roles.Finance);

        // Not timed: a case with a flagged supplier, a fund covering it, a general pool holding enough for every claim.
        var caseId = (await Ok(await investigator.PostJson("/api/cases", new
        {
            title = "Lifecycle ring",
            platforms = new[] { "Alibaba.com" },
            activeFrom = today.PlusDays(-300).ToString("uuuu-MM-dd", null),
            activeTo = today.ToString("uuuu-MM-dd", null),
            estimatedLoss = new { amount = 50_000_000m, currency = "USD" },
        }), 201)).GetProperty("id").GetGuid();
        await Ok(await investigator.PostJson($"/api/cases/{caseId}/supplier-accounts",
            new { accounts = new[] { new { platform = "Alibaba.com", accountId = "cnlife", displayName = "Lifecycle Electronics" } } }), 200);
        var fundId = (await Ok(await preparer.PostJson("/api/funds", FundApi.FairPlayFund()), 201)).GetProperty("id").GetGuid();
        await Ok(await preparer.PostJson($"/api/funds/{fundId}/cases", new { caseId }), 200);
        var poolId = (await Ok(await preparer.PostJson($"/api/funds/{fundId}/pools", new { kind = "general", name = "General pool" }), 201)).GetProperty("id").GetGuid();
        await Ok(await preparer.PostJson($"/api/funds/{fundId}/pools/{poolId}/deposits",
            new { amount = new { amount = n * 1_000m, currency = "USD" }, bankReference = "LIFE-DEP-1", valueDate = today.PlusDays(-30).ToString("uuuu-MM-dd", null) }), 201);

        var baseline = new LifecycleBaseline(baselineDb);
        await baseline.CreateTables();
        var ids = new Guid[n];

        // File.
        if (!await Stage("lifecycle 1 file", clients, n, stageLimit, async i =>
            {
                var body = new Dictionary<string, object?>
                {
                    ["caseId"] = caseId,
                    ["buyer"] = new { name = $"Life Buyer {i}", country = "US", email = $"life{i}@example.com" },
                    ["platform"] = "Alibaba.com",
                    ["supplierAccount"] = "cnlife",
                    ["orderReference"] = $"ORD-LIFE-{i}",
                    ["orderDate"] = today.PlusDays(-12).ToString("uuuu-MM-dd", null),
                    ["paymentDate"] = today.PlusDays(-10).ToString("uuuu-MM-dd", null),
                    ["amountPaid"] = new { amount = 500m + i % 1_000, currency = "USD" },
                    ["paymentReference"] = $"TT-LIFE-{i}",
                    ["goodsDescription"] = "Laptops",
                };
                using var response = await handler.PostJson("/api/claims", body);
                ids[i] = (await Ok(response, 201)).GetProperty("id").GetGuid();
            }, baseline.File)) return;

        // Verify (If-Match: the version after filing), then approve (another person: four eyes).
        if (!await Stage("lifecycle 2 verify", clients, n, stageLimit, async i =>
            {
                var claim = await Ok(await Act(handler, ids[i], "verification", 1), 200);
                if (claim.GetProperty("status").GetString() != "verified-eligible")
                    throw new InvalidOperationException($"Claim {ids[i]} verified as {claim.GetProperty("status")}, not eligible: {claim}");
            }, baseline.Verify)) return;
        var approvals = Stopwatch.StartNew();
        if (!await Stage("lifecycle 3 approve", clients, n, stageLimit, async i => await Ok(await Act(approver, ids[i], "approval", 2), 200), baseline.Approve)) return;

        // The fund learns of each approval through a durable message: wait until every entitlement is on the fund.
        var recorded = 0;
        while ((recorded = (await Ok(await preparer.GetAsync($"/api/funds/{fundId}"), 200)).GetProperty("entitlements").GetProperty("claims").GetInt32()) < n)
        {
            if (approvals.Elapsed > entitlementLimit)
            {
                var deadLetters = await DeadLetters();
                notes.Add(string.Create(CultureInfo.InvariantCulture,
                    $"Lifecycle: after {approvals.Elapsed.TotalSeconds:0} s only {recorded} of {n} entitlements had reached the fund (limit {entitlementLimit.TotalSeconds:0} s; {deadLetters} message(s) in Wolverine's dead letters); round, release and statement not run."));
                results.Add(Whole("lifecycle 4 entitlements on fund", "service (durable message, stopped at limit)", recorded, approvals.Elapsed));
                log(notes[^1]);
                // The baseline of this stage still runs, for the ratio (the service's rate over what it managed).
                results.Add(await Timed("lifecycle 4 entitlements on fund", "baseline (raw SQL)", n, () => baseline.RecordEntitlements(clients)));
                return;
            }
            await Task.Delay(n > 1_000 ? 1_000 : 100);
        }
        approvals.Stop();
        results.Add(Whole("lifecycle 4 entitlements on fund", "service (durable message)", n, approvals.Elapsed));
        stageDone?.Invoke("lifecycle 4 entitlements");
        results.Add(await Timed("lifecycle 4 entitlements on fund", "baseline (raw SQL)", n, () => baseline.RecordEntitlements(clients)));
        log($"bench: lifecycle: {n} entitlements on the fund {approvals.Elapsed.TotalSeconds:0.0} s after approvals began");

        // One round over all of them, released by someone else.
        var clock = Stopwatch.StartNew();
        var round = await Ok(await preparer.PostJson($"/api/funds/{fundId}/rounds", new { }), 201);
        results.Add(Whole("lifecycle 5 prepare round", "service (HTTP)", n, clock.Elapsed));
        stageDone?.Invoke("lifecycle 5 round");
        var allocations = round.GetProperty("allocations").GetArrayLength();
        if (allocations != n) throw new InvalidOperationException($"The round allocated {allocations} claims, not {n}.");
        results.Add(await Timed("lifecycle 5 prepare round", "baseline (raw SQL)", n, baseline.PrepareRound));

        clock.Restart();
        var released = await Ok(await releaser.PostJson($"/api/rounds/{round.GetProperty("id").GetGuid()}/release", new { }), 200);
        results.Add(Whole("lifecycle 6 release round", "service (HTTP)", n, clock.Elapsed));
        stageDone?.Invoke("lifecycle 6 release");
        results.Add(await Timed("lifecycle 6 release round", "baseline (raw SQL)", n, baseline.ReleaseRound));
        var payouts = released.GetProperty("payouts").EnumerateArray()
            .Select(p => (Reference: p.GetProperty("reference").GetString()!, Amount: p.GetProperty("amount").GetProperty("amount").GetDecimal())).ToList();
        if (payouts.Count != n) throw new InvalidOperationException($"The release issued {payouts.Count} payouts, not {n}.");

        // The bank's statement settles every payout (at most 10,000 lines a statement, the import's limit).
        clock.Restart();
        var settled = 0;
        foreach (var chunk in payouts.Chunk(ImportBankStatementEndpoint.MaxLines))
        {
            var csv = new StringBuilder("date,reference,amount,currency,direction\n");
            foreach (var p in chunk) csv.Append(CultureInfo.InvariantCulture, $"{today:yyyy-MM-dd},{p.Reference},{p.Amount:0.00},USD,debit\n");
            var result = await Ok(await preparer.PostJson("/api/bank-statements", new { fundId, csv = csv.ToString() }), 201);
            settled += result.GetProperty("lines").EnumerateArray().Count(l => l.GetProperty("match").GetString() == "payout-settled");
        }
        results.Add(Whole("lifecycle 7 bank statement", "service (HTTP)", n, clock.Elapsed));
        stageDone?.Invoke("lifecycle 7 statement");
        if (settled != n) throw new InvalidOperationException($"The statement settled {settled} payouts, not {n}.");
        results.Add(await Timed("lifecycle 7 bank statement", "baseline (raw SQL)", n, baseline.SettleAll));
    }

    /// <summary>Messages Wolverine gave up on (an entitlement that lost its race on the fund stream every retry ends there).</summary>
    private async Task<string> DeadLetters()
    {
        try
        {
            await using var connection = new NpgsqlConnection(ledgerDb);
            await connection.OpenAsync();
            await using var count = new NpgsqlCommand("select count(*), string_agg(distinct exception_type, ', ') from wolverine.wolverine_dead_letters", connection);
            await using var reader = await count.ExecuteReaderAsync();
            await reader.ReadAsync();
            return reader.GetInt64(0) == 0 ? "0" : string.Create(CultureInfo.InvariantCulture, $"{reader.GetInt64(0)}, {reader.GetString(1)}");
        }
        catch (PostgresException e)
        {
            return $"unknown ({e.MessageText})";
        }
    }

    private async Task<bool> Stage(string scenario, int clients, int n, TimeSpan limit, Func<int, Task> service, Func<int, Task> baseline)
    {
        var started = Stopwatch.StartNew();
        var done = 0;
        try
        {
            results.Add(await Measure.Run(scenario, "service (HTTP)", clients, n, async i =>
            {
                if (started.Elapsed > limit) throw new TimeoutException();
                await service(i);
                Interlocked.Increment(ref done);
            }));
            stageDone?.Invoke(scenario);
        }
        catch (TimeoutException)
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"Lifecycle: stage '{scenario}' hit its limit of {limit.TotalSeconds:0} s after {done} of {n}; later stages not run."));
            log(notes[^1]);
            results.Add(Whole(scenario, "service (HTTP, stopped at limit)", done, started.Elapsed));
            return false;
        }
        results.Add(await Measure.Run(scenario, "baseline (raw SQL)", clients, n, baseline));
        log($"bench: {scenario} done ({started.Elapsed.TotalSeconds:0.0} s)");
        return true;
    }

    private static async Task<Measurement> Timed(string scenario, string path, int n, Func<Task> work)
    {
        var clock = Stopwatch.StartNew();
        await work();
        return Whole(scenario, path, n, clock.Elapsed);
    }

    public static Measurement Whole(string scenario, string path, int rows, TimeSpan elapsed) =>
        new(scenario, path, 1, rows, elapsed.TotalSeconds, elapsed.TotalMilliseconds, elapsed.TotalMilliseconds, elapsed.TotalMilliseconds);

    private static async Task<HttpResponseMessage> Act(HttpClient client, Guid claimId, string action, int version)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/claims/{claimId}/{action}")
        {
            Content = new StringContent("{}", Encoding.UTF8, "application/json"),
        };
        request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{version}\""));
        return await client.SendAsync(request);
    }

    private static async Task<JsonElement> Ok(HttpResponseMessage response, int expected)
    {
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync();
            if ((int)response.StatusCode != expected)
                throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode}, expected {expected}: {text[..Math.Min(text.Length, 1500)]}");
            return JsonDocument.Parse(text).RootElement.Clone();
        }
    }
}

/// <summary>
/// The lifecycle's unavoidable database work by hand, on normalised tables: a claim is a stream row, its
/// events and a read-model row; the fund is a row (its version serialises decisions on it, as its stream
/// does) with one row per entitlement and per payout, so each stage touches only the rows it changes.
/// </summary>
public sealed class LifecycleBaseline(string connectionString)
{
    private readonly Guid _fund = Guid.CreateVersion7();
    private readonly List<Guid> _claims = [];
    private Guid[] _ids = [];
    private readonly Guid _round = Guid.CreateVersion7();

    public async Task CreateTables()
    {
        await using var connection = await Open();
        await Execute(connection, """
            create table if not exists lc_streams (id uuid primary key, type text, version int);
            create table if not exists lc_events (seq bigserial primary key, stream_id uuid, version int, type text, data jsonb, unique (stream_id, version));
            create table if not exists lc_claims (id uuid primary key, status text, data jsonb);
            create table if not exists lc_outbox (id uuid primary key, body jsonb);
            create table if not exists lc_entitlements (claim_id uuid primary key, fund_id uuid, reference text, amount numeric, allocated numeric default 0, in_transit numeric default 0, settled numeric default 0);
            create table if not exists lc_payouts (id uuid primary key, fund_id uuid, reference text unique, claim_id uuid, amount numeric, status text);
            """);
        await Execute(connection, $"insert into lc_streams values ('{_fund}', 'fund', 1)");
    }

    public async Task File(int i)
    {
        var id = Guid.CreateVersion7();
        lock (_claims) _claims.Add(id);
        var data = JsonSerializer.Serialize(new { claimId = id, reference = $"CL-LIFE-{i}", amountPaid = new { amount = 500m + i % 1_000, currency = "USD" }, status = "filed" });
        await using var connection = await Open();
        await using var tx = await connection.BeginTransactionAsync();
        await Batch(connection, tx,
            ("select nextval('reference_seq')", []),
            ("insert into lc_streams (id, type, version) values (@p0, 'claim', 1)", [id]),
            ("insert into lc_events (stream_id, version, type, data) values (@p0, 1, 'claim_filed', @p1::jsonb)", [id, data]),
            ("insert into lc_claims (id, status, data) values (@p0, 'filed', @p1::jsonb)", [id, data]),
            ("insert into fingerprints (id, data) values (@p0, '{}')", [$"life-pay:{id}"]),
            ("insert into fingerprints (id, data) values (@p0, '{}')", [$"life-buyer:{id}"]),
            ("insert into buyers (id, data) values (@p0, @p1::jsonb)", [id, $$"""{"name":"Life Buyer {{i}}"}"""]),
            ("insert into access (id, reference, hash) values (@p0, @p1, @p2)", [id, $"LIFE-{id}", new string('a', 64)]));
        await tx.CommitAsync();
    }

    /// <summary>A decision on one claim: read it (and what the decision needs), append at the version read, update the read model.</summary>
    private async Task Decide(int i, int version, string type, string status, bool outbox)
    {
        if (_ids.Length != _claims.Count) lock (_claims) _ids = [.. _claims];
        var id = _ids[i];
        await using var connection = await Open();
        await using var tx = await connection.BeginTransactionAsync();
        await using (var read = new NpgsqlCommand("select s.version, c.data from lc_streams s join lc_claims c on c.id = s.id where s.id = @p0", connection, tx))
        {
            read.Parameters.AddWithValue("p0", id);
            await using var reader = await read.ExecuteReaderAsync();
            if (!await reader.ReadAsync() || reader.GetInt32(0) != version) throw new InvalidOperationException($"Baseline claim {id} is not at version {version}.");
        }
        var data = $$"""{"claimId":"{{id}}","status":"{{status}}","amount":{{700m + i % 300}}}""";
        var commands = new List<(string, object[])>
        {
            ("select id from fingerprints where id = any(@p0)", [new[] { $"life-pay:{id}", $"life-buyer:{id}" }]),
            ("update lc_streams set version = @p1 where id = @p0 and version = @p2", [id, version + 1, version]),
            ("insert into lc_events (stream_id, version, type, data) values (@p0, @p1, @p2, @p3::jsonb)", [id, version + 1, type, data]),
            ("update lc_claims set status = @p1, data = @p2::jsonb where id = @p0", [id, status, data]),
        };
        if (outbox) commands.Add(("insert into lc_outbox (id, body) values (@p0, @p1::jsonb)", [id, data]));
        await Batch(connection, tx, [.. commands]);
        await tx.CommitAsync();
    }

    public Task Verify(int i) => Decide(i, 1, "claim_verified", "verifiedEligible", outbox: false);

    public Task Approve(int i) => Decide(i, 2, "claim_approved", "approved", outbox: true);

    /// <summary>Each approval's message: lock the fund (its version), append the event, add the entitlement row, drop the message.</summary>
    public async Task RecordEntitlements(int clients)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < _ids.Length)
            {
                var id = _ids[i];
                await using var connection = await Open();
                await using var tx = await connection.BeginTransactionAsync();
                await Batch(connection, tx,
                    ("update lc_streams set version = version + 1 where id = @p0", [_fund]),
                    ("insert into lc_events (stream_id, version, type, data) select @p0, version, 'entitlement_recorded', @p1::jsonb from lc_streams where id = @p0", [_fund, $$"""{"claimId":"{{id}}"}"""]),
                    ("insert into lc_entitlements (claim_id, fund_id, reference, amount) values (@p0, @p1, @p2, @p3)", [id, _fund, $"CL-LIFE-{i}", 700m + i % 300]),
                    ("delete from lc_outbox where id = @p0", [id]));
                await tx.CommitAsync();
            }
        }));
    }

    /// <summary>Read what is owed, plan the round (the same pure allocation as the service), write one event and the allocated amounts.</summary>
    public async Task PrepareRound()
    {
        await using var connection = await Open();
        await using var tx = await connection.BeginTransactionAsync();
        var owed = new List<OwedClaim>();
        await using (var read = new NpgsqlCommand("select claim_id, reference, amount - allocated - in_transit - settled from lc_entitlements where fund_id = @p0 for update", connection, tx))
        {
            read.Parameters.AddWithValue("p0", _fund);
            await using var reader = await read.ExecuteReaderAsync();
            while (await reader.ReadAsync()) owed.Add(new OwedClaim(reader.GetGuid(0), reader.GetString(1), reader.GetDecimal(2), null));
        }
        var plan = Allocation.PlanRound([new PoolFunds(Guid.Empty, PoolKind.General, owed.Sum(o => o.StillOwed))], owed, 0m, false, 2);
        await Batch(connection, tx,
            ("update lc_streams set version = version + 1 where id = @p0", [_fund]),
            ("insert into lc_events (stream_id, version, type, data) select @p0, version, 'round_prepared', @p1::jsonb from lc_streams where id = @p0",
                [_fund, JsonSerializer.Serialize(new { roundId = _round, allocations = plan.Allocations })]),
            ("update lc_entitlements e set allocated = e.allocated + a.amount from unnest(@p0::uuid[], @p1::numeric[]) as a(id, amount) where e.claim_id = a.id",
                [plan.Allocations.Select(a => a.ClaimId).ToArray(), plan.Allocations.Select(a => a.Amount).ToArray()]));
        await tx.CommitAsync();
    }

    /// <summary>One payout row per allocation (COPY), one event, allocated moved to in transit.</summary>
    public async Task ReleaseRound()
    {
        await using var connection = await Open();
        await using var tx = await connection.BeginTransactionAsync();
        var rows = new List<(Guid Claim, decimal Amount)>();
        await using (var read = new NpgsqlCommand("select claim_id, allocated from lc_entitlements where fund_id = @p0 and allocated > 0 order by reference for update", connection, tx))
        {
            read.Parameters.AddWithValue("p0", _fund);
            await using var reader = await read.ExecuteReaderAsync();
            while (await reader.ReadAsync()) rows.Add((reader.GetGuid(0), reader.GetDecimal(1)));
        }
        await using (var copy = await connection.BeginBinaryImportAsync("copy lc_payouts (id, fund_id, reference, claim_id, amount, status) from stdin (format binary)"))
        {
            for (var k = 0; k < rows.Count; k++)
            {
                await copy.StartRowAsync();
                await copy.WriteAsync(Guid.CreateVersion7(), NpgsqlDbType.Uuid);
                await copy.WriteAsync(_fund, NpgsqlDbType.Uuid);
                await copy.WriteAsync($"PO-LIFE-{k:D6}", NpgsqlDbType.Text);
                await copy.WriteAsync(rows[k].Claim, NpgsqlDbType.Uuid);
                await copy.WriteAsync(rows[k].Amount, NpgsqlDbType.Numeric);
                await copy.WriteAsync("in-transit", NpgsqlDbType.Text);
            }
            await copy.CompleteAsync();
        }
        await Batch(connection, tx,
            ("update lc_streams set version = version + 1 where id = @p0", [_fund]),
            ("insert into lc_events (stream_id, version, type, data) select @p0, version, 'round_released', @p1::jsonb from lc_streams where id = @p0",
                [_fund, JsonSerializer.Serialize(new { roundId = _round, payouts = rows.Count })]),
            ("update lc_entitlements set in_transit = in_transit + allocated, allocated = 0 where fund_id = @p0 and allocated > 0", [_fund]));
        await tx.CommitAsync();
    }

    /// <summary>The statement: find each line's payout by reference, settle it, one event per settlement (COPY) and the statement's event.</summary>
    public async Task SettleAll()
    {
        await using var connection = await Open();
        var references = new List<string>();
        await using (var read = new NpgsqlCommand("select reference from lc_payouts where fund_id = @p0", connection))
        {
            read.Parameters.AddWithValue("p0", _fund);
            await using var reader = await read.ExecuteReaderAsync();
            while (await reader.ReadAsync()) references.Add(reader.GetString(0));
        }
        foreach (var chunk in references.Chunk(ImportBankStatementEndpoint.MaxLines))
        {
            await using var tx = await connection.BeginTransactionAsync();
            var matched = new List<(Guid Payout, Guid Claim)>();
            await using (var find = new NpgsqlCommand("select id, claim_id from lc_payouts where reference = any(@p0) and status = 'in-transit' for update", connection, tx))
            {
                find.Parameters.AddWithValue("p0", chunk);
                await using var reader = await find.ExecuteReaderAsync();
                while (await reader.ReadAsync()) matched.Add((reader.GetGuid(0), reader.GetGuid(1)));
            }
            var version = 0;
            await using (var bump = new NpgsqlCommand("update lc_streams set version = version + @p1 + 1 where id = @p0 returning version", connection, tx))
            {
                bump.Parameters.AddWithValue("p0", _fund);
                bump.Parameters.AddWithValue("p1", matched.Count);
                version = (int)(await bump.ExecuteScalarAsync())!;
            }
            await using (var copy = await connection.BeginBinaryImportAsync("copy lc_events (stream_id, version, type, data) from stdin (format binary)"))
            {
                for (var k = 0; k <= matched.Count; k++)
                {
                    await copy.StartRowAsync();
                    await copy.WriteAsync(_fund, NpgsqlDbType.Uuid);
                    await copy.WriteAsync(version - matched.Count + k, NpgsqlDbType.Integer);
                    await copy.WriteAsync(k == 0 ? "bank_statement_imported" : "payout_settled", NpgsqlDbType.Text);
                    await copy.WriteAsync(k == 0 ? JsonSerializer.Serialize(new { lines = chunk }) : $$"""{"payoutId":"{{matched[k - 1].Payout}}"}""", NpgsqlDbType.Jsonb);
                }
                await copy.CompleteAsync();
            }
            await Batch(connection, tx,
                ("update lc_payouts set status = 'settled' where id = any(@p0)", [matched.Select(m => m.Payout).ToArray()]),
                ("update lc_entitlements set settled = settled + in_transit, in_transit = 0 where claim_id = any(@p0)", [matched.Select(m => m.Claim).ToArray()]));
            await tx.CommitAsync();
        }
    }

    private async Task<NpgsqlConnection> Open()
    {
        var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task Batch(NpgsqlConnection connection, NpgsqlTransaction tx, params (string Sql, object[] Values)[] commands)
    {
        await using var batch = new NpgsqlBatch(connection, tx);
        foreach (var (sql, values) in commands)
        {
            var command = new NpgsqlBatchCommand(sql);
            for (var k = 0; k < values.Length; k++) command.Parameters.Add(new NpgsqlParameter($"p{k}", values[k]));
            batch.BatchCommands.Add(command);
        }
        await using var reader = await batch.ExecuteReaderAsync();
        while (await reader.NextResultAsync()) { }
    }
}
