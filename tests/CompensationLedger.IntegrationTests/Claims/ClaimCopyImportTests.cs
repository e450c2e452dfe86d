using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Infrastructure;
using Marten;
using Npgsql;

namespace CompensationLedger.IntegrationTests.Claims;

/// <summary>
/// The import writes its batches with COPY (<see cref="ClaimCopy"/>): the result must be what filing each claim through
/// Marten gives, to the row, in every read model, and a batch is written whole or not at all.
/// </summary>
public sealed class ClaimCopyImportTests(LedgerApp app) : IntegrationTest(app)
{
    private const string Header = "buyer_name,buyer_country,buyer_email,buyer_company,buyer_phone,platform,supplier_account,order_reference,"
        + "order_date,payment_date,amount,currency,payment_reference,beneficiary_account,goods_description";

    private static string Row(string paymentReference, string buyer = "Jane Buyer", string email = "jane@example.com", string paymentDate = "2011-02-10",
        string amount = "1400.00", string currency = "USD") =>
        $"{buyer},US,{email},,,Alibaba.com,{ClaimApi.FlaggedSupplier},ORD-{paymentReference},2011-02-01,{paymentDate},{amount},{currency},{paymentReference},,200 laptops";

    private static string File(params string[] rows) => string.Join("\r\n", [Header, .. rows]) + "\r\n";

    private Task<HttpResponseMessage> Import(Guid caseId, string csv, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/claims/imports?caseId={caseId}") { Content = new StringContent(csv, Encoding.UTF8, "text/csv") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (idempotencyKey is not null) request.Headers.Add(IdempotencyMiddleware.Header, idempotencyKey);
        return App.Handler().SendAsync(request);
    }

    private async Task<JsonElement[]> Imported(Guid caseId, string csv)
    {
        var response = await Import(caseId, csv);
        await response.ShouldBe(200);
        return (await response.Json()).GetProperty("rows").EnumerateArray().ToArray();
    }

    private async Task<NpgsqlConnection> Connection()
    {
        var connection = (NpgsqlConnection)App.Store.Storage.Database.CreateConnection();
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>
    /// Every read model table of the schema (Marten's documents, <c>mt_doc_*</c>, and the projections' own tables,
    /// <c>report_*</c>), found by name so tables added later are included: each row as JSON, sorted, without its write time, the
    /// writing transaction's id (a change row's <c>xid</c>) and
    /// without Marten's <c>mt_version</c>: Marten itself gives a multi-stream projection's document revision 1 when it projects a
    /// filing inline and the event's sequence number when it rebuilds (a claim filed over HTTP shows it too), so that column
    /// cannot agree across a rebuild. <see cref="a_copied_claim_has_the_same_rows_as_one_filed_through_marten"/> checks it instead.
    /// </summary>
    private async Task<SortedDictionary<string, string[]>> ReadModels()
    {
        await using var connection = await Connection();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand(
                         "select table_name from information_schema.tables where table_schema = @schema and table_type = 'BASE TABLE' "
                         + "and (table_name like 'mt\\_doc\\_%' or table_name like 'report\\_%') order by table_name", connection))
        {
            list.Parameters.AddWithValue("schema", LedgerSetup.Schema);
            await using var reader = await list.ExecuteReaderAsync();
            while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
        }
        // The paid-vs-lost rollup and its checkpoint say how far change rows were absorbed (by transaction id), which no two histories
        // share; PaidVsLostTablesTests hold the rollup equal to the change rows it absorbed, after rebuilds too.
        tables.RemoveAll(t => t is CompensationLedger.Reports.ClaimTotalsRollup.RollupTable or CompensationLedger.Reports.ClaimTotalsRollup.MonthlyTable or CompensationLedger.Reports.ClaimTotalsRollup.DailyTable
            or CompensationLedger.Reports.ClaimTotalsRollup.CheckpointTable);
        var models = new SortedDictionary<string, string[]>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            await using var rows = new NpgsqlCommand(
                $"select coalesce(array_agg(r order by r), '{{}}') from (select (to_jsonb(t) - 'mt_last_modified' - 'mt_version' - '{CompensationLedger.Reports.ClaimTotalsRollup.XidColumn}')::text as r from {LedgerSetup.Schema}.{table} t) x", connection);
            models[table] = (string[])(await rows.ExecuteScalarAsync())!;
        }
        return models;
    }

    [Fact]
    public void every_inline_projection_that_reacts_to_a_filing_is_one_the_copy_path_writes()
    {
        // If this fails, an inline projection reacting to ClaimFiled was added: the import would fall back to filing row by row
        // (correct, but about ten times slower). Teach ClaimCopy to write its rows; the rebuild test below checks them.
        var copy = ClaimCopy.For(App.Store, out var whyNot);

        whyNot.ShouldBeNull();
        copy.ShouldNotBeNull();
    }

    [Fact]
    public async Task a_copied_import_leaves_every_read_model_exactly_as_rebuilding_every_projection_from_the_events_does()
    {
        var caseId = await App.OpenFlaggedCase();
        var existing = await App.FileClaim(ClaimApi.Filing(caseId, paymentReference: "TT-STORED", buyer: "Stored Buyer"));
        App.Clock.AdvanceMinutes(5);
        var rows = await Imported(caseId, File(
            Row("TT-1"),
            Row("TT-2", buyer: "Li Wei", email: "li@example.com", amount: "999.50"),
            Row("TT-3", buyer: "Ana Lima", email: "ana@example.com", amount: "120000", currency: "JPY"),
            Row("TT-4", email: "not-an-email"),
            Row("TT-1", buyer: "Someone Else"),                                   // duplicate within the batch (payment reference)
            Row("TT-5", buyer: "Li Wei", email: "li@example.com", amount: "999.50"), // duplicate within the batch (buyer, supplier, amount, date)
            Row("TT-STORED", buyer: "Another Buyer"),                            // duplicate of a stored claim
            Row("TT-LATE", paymentDate: "2010-12-01")));
        rows.Select(r => r.GetProperty("outcome").GetString()).ShouldBe(["filed", "filed", "filed", "invalid", "refused", "refused", "refused", "refused"]);
        rows[4].GetProperty("detail").GetString()!.ShouldContain(rows[0].GetProperty("reference").GetString()!);
        rows[5].GetProperty("detail").GetString()!.ShouldContain(rows[1].GetProperty("reference").GetString()!);
        rows[6].GetProperty("detail").GetString()!.ShouldContain(existing.GetProperty("reference").GetString()!);
        // A second import of the same payments in a later batch sees the copied fingerprints.
        (await Imported(caseId, File(Row("TT-2", buyer: "Somebody", email: "s@example.com"))))[0].GetProperty("code").GetString().ShouldBe("duplicate-claim");

        var before = await ReadModels();
        before["mt_doc_claim"].Length.ShouldBe(4);
        before["report_claim_totals"].Length.ShouldBe(4);
        before["report_claim_totals_changes"].Length.ShouldBe(4);
        before["mt_doc_claimfingerprint"].Length.ShouldBe(8);

        foreach (var name in LedgerRebuild.AllNames(App.Store))
            await LedgerRebuild.RebuildAsync(App.Store, name, TimeSpan.FromMinutes(1), null, CancellationToken.None);
        var after = await ReadModels();

        after.Keys.ShouldBe(before.Keys);
        foreach (var table in before.Keys) after[table].ShouldBe(before[table], $"{table} after rebuilding every projection");
    }

    [Fact]
    public async Task a_batch_s_fingerprint_lookup_probes_the_key_even_where_the_planner_thinks_the_table_small()
    {
        // The table as scenario 1 of the benchmark leaves it for an import: analysed at a few thousand rows, then grown (issue #7).
        // Asked as "id = any(...)" for a batch's 1,000 keys, PostgreSQL scanned the whole table there on every batch.
        var table = App.Store.Options.FindOrResolveDocumentType(typeof(ClaimFingerprint)).TableName.QualifiedName;
        await using var connection = await Connection();
        async Task Fill(int from, int to)
        {
            await using var fill = new NpgsqlCommand(
                $"insert into {table} (id, data, mt_dotnet_type) select 'pay:' || md5(i::text) || md5(i::text), "
                + "jsonb_build_object('id', 'pay:' || md5(i::text) || md5(i::text), 'kind', 'payment-reference', 'claimId', gen_random_uuid(), 'reference', 'CL-2011-000001-9'), "
                + $"'{typeof(ClaimFingerprint).FullName}' from generate_series(@from, @to) as i", connection);
            fill.Parameters.AddWithValue("from", from);
            fill.Parameters.AddWithValue("to", to);
            await fill.ExecuteNonQueryAsync();
        }
        await Fill(1, 3_000);
        await using (var analyze = new NpgsqlCommand($"analyze {table}", connection)) await analyze.ExecuteNonQueryAsync();
        await Fill(3_001, 40_000);
        var keys = Enumerable.Range(39_501, 1_000).Select(i => $"pay:{Md5(i)}{Md5(i)}").ToArray();

        await using var explain = new NpgsqlCommand(
            "explain (format json) " + ClaimFingerprints.StoredAmongSql(App.Store).Replace("?::text[]", "@keys::text[]", StringComparison.Ordinal), connection);
        explain.Parameters.AddWithValue("keys", keys);
        var plan = (string)(await explain.ExecuteScalarAsync())!;

        plan.ShouldContain("\"Index Name\": \"pkey_mt_doc_claimfingerprint_id\"");
        plan.ShouldNotContain("Seq Scan");
        await using var query = App.Store.QuerySession();
        var found = await query.QueryAsync<ClaimFingerprint>(ClaimFingerprints.StoredAmongSql(App.Store), CancellationToken.None,
            [keys.Take(500).Append("pay:none").ToArray()]);
        found.Count.ShouldBe(500);
        found.Select(f => f.Id).ShouldBe(keys.Take(500), ignoreOrder: true);
    }

    private static string Md5(int i) => Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture))));

    [Fact]
    public async Task a_duplicate_of_a_claim_in_the_batch_still_being_written_is_refused_with_its_reference()
    {
        // The next batch is decided while the previous one is written: row 520 (second batch) repeats row 10's payment.
        var caseId = await App.OpenFlaggedCase();
        var rows = Enumerable.Range(1, ImportClaimsEndpoint.BatchSize + 100).Select(i => Row($"TT-{i}", buyer: $"Buyer {i}", email: $"b{i}@example.com")).ToList();
        rows[519] = Row("TT-10", buyer: "Somebody Else", email: "else@example.com");

        var outcome = await Imported(caseId, File([.. rows]));

        outcome.Count(r => r.GetProperty("outcome").GetString() == "filed").ShouldBe(rows.Count - 1);
        outcome[519].GetProperty("code").GetString().ShouldBe("duplicate-claim");
        outcome[519].GetProperty("detail").GetString()!.ShouldContain(outcome[9].GetProperty("reference").GetString()!);
        await using var query = App.Store.QuerySession();
        (await query.Query<Claim>().CountAsync()).ShouldBe(rows.Count - 1);
        (await TotalsRows()).ShouldBe(rows.Count - 1);
    }

    [Fact]
    public async Task two_imports_of_the_same_file_over_several_batches_file_each_claim_once_and_name_filed_claims_as_duplicates()
    {
        // Batches race each other: a batch that loses falls back claim by claim, and the batch decided meanwhile is decided again.
        var caseId = await App.OpenFlaggedCase();
        var csv = File(Enumerable.Range(1, 2 * ImportClaimsEndpoint.BatchSize + 50).Select(i => Row($"TT-{i}", buyer: $"Buyer {i}", email: $"b{i}@example.com")).ToArray());

        var responses = await Task.WhenAll(Import(caseId, csv), Import(caseId, csv));

        var outcomes = new List<JsonElement>();
        foreach (var response in responses)
        {
            await response.ShouldBe(200);
            outcomes.AddRange((await response.Json()).GetProperty("rows").EnumerateArray());
        }
        var filed = outcomes.Where(r => r.GetProperty("outcome").GetString() == "filed").ToList();
        filed.Count.ShouldBe(2 * ImportClaimsEndpoint.BatchSize + 50);
        var references = filed.Select(r => r.GetProperty("reference").GetString()!).ToHashSet();
        foreach (var refused in outcomes.Where(r => r.GetProperty("outcome").GetString() != "filed"))
        {
            refused.GetProperty("code").GetString().ShouldBe("duplicate-claim");
            references.ShouldContain(refused.GetProperty("detail").GetString()!.Split(' ').First(w => w.StartsWith("CL-", StringComparison.Ordinal)));
        }
        await using var query = App.Store.QuerySession();
        (await query.Query<Claim>().CountAsync()).ShouldBe(filed.Count);
        (await TotalsRows()).ShouldBe(filed.Count);
        (await Marten.QueryableExtensions.CountAsync(query.Events.QueryRawEventDataOnly<ClaimFiled>())).ShouldBe(filed.Count);
    }

    [Fact]
    public async Task a_copied_claim_has_the_same_rows_as_one_filed_through_marten()
    {
        var caseId = await App.OpenFlaggedCase();
        var filed = (await App.FileClaim(ClaimApi.Filing(caseId, paymentReference: "TT-API", buyer: "Api Buyer"))).GetProperty("id").GetGuid();
        var copied = (await Imported(caseId, File(Row("TT-COPY", buyer: "Copy Buyer"))))[0].GetProperty("claimId").GetGuid();

        await using var connection = await Connection();
        async Task<SortedDictionary<string, string>> RowsOf(Guid claimId)
        {
            var tables = new (string Table, string Where)[]
            {
                ("mt_streams", "id = @id"), ("mt_events", "stream_id = @id"), ("mt_doc_claim", "id = @id"),
                ("report_claim_totals", "claim_id = @id"), ("report_claim_totals_changes", "claim_id = @id"),
                ("mt_doc_buyerdetails", "id = @id"), ("mt_doc_claimaccess", "id = @id"), ("mt_doc_claimfingerprint", "data ->> 'claimId' = @id::text"),
            };
            var rows = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var (table, where) in tables)
            {
                // Every column but the ones that identify the row or hold its own time; of the content, its shape (the keys).
                await using var read = new NpgsqlCommand(
                    $"select (to_jsonb(t) - 'id' - 'seq_id' - 'stream_id' - 'timestamp' - 'created' - 'mt_last_modified' - 'claim_id' - 'event_id' - 'at_ns' - 'last_event_at_ns' - 'max_at_ns' - '{CompensationLedger.Reports.ClaimTotalsRollup.XidColumn}')::text from {LedgerSetup.Schema}.{table} t where {where}",
                    connection);
                read.Parameters.AddWithValue("id", claimId);
                var found = new List<string>();
                await using (var reader = await read.ExecuteReaderAsync())
                    while (await reader.ReadAsync())
                    {
                        var row = System.Text.Json.Nodes.JsonNode.Parse(reader.GetString(0))!.AsObject();
                        // A version GUID is new on every write (Marten's or the column default); a numeric revision must match.
                        if (row["mt_version"] is System.Text.Json.Nodes.JsonValue version && version.TryGetValue<string>(out var text) && Guid.TryParse(text, out _))
                            row.Remove("mt_version");
                        if (row["data"] is System.Text.Json.Nodes.JsonObject data) row["data"] = string.Join(",", data.Select(p => p.Key).Order(StringComparer.Ordinal));
                        found.Add(row.ToJsonString());
                    }
                found.Sort(StringComparer.Ordinal);
                rows[table] = string.Join("\n", found);
            }
            return rows;
        }

        var throughMarten = await RowsOf(filed);
        var throughCopy = await RowsOf(copied);

        foreach (var table in throughMarten.Keys)
        {
            throughMarten[table].ShouldNotBeEmpty(table);
            throughCopy[table].ShouldBe(throughMarten[table], table);
        }
    }

    [Fact]
    public async Task a_batch_whose_fingerprint_is_taken_by_a_concurrent_filing_is_written_not_at_all_and_then_claim_by_claim()
    {
        var caseId = await App.OpenFlaggedCase();
        var events = await App.EventCount();

        // Another filing of TT-2's payment takes its fingerprint and has not committed yet when the import looks for duplicates.
        var raced = ClaimFingerprints.For("TT-2", "Li Wei", "US", ClaimApi.FlaggedSupplier, new Money(999.50m, "USD"), new NodaTime.LocalDate(2011, 2, 10))[0];
        await using var rival = await Connection();
        await using var rivalTx = await rival.BeginTransactionAsync();
        await using (var take = new NpgsqlCommand(
                         $"insert into {LedgerSetup.Schema}.mt_doc_claimfingerprint (id, data, mt_dotnet_type) values (@id, @data::jsonb, @type)", rival, rivalTx))
        {
            take.Parameters.AddWithValue("id", raced.Id);
            take.Parameters.AddWithValue("data", JsonSerializer.Serialize(new { id = raced.Id, kind = raced.Kind, claimId = Guid.CreateVersion7(), reference = "CL-2011-999999-0" }));
            take.Parameters.AddWithValue("type", typeof(ClaimFingerprint).FullName!);
            await take.ExecuteNonQueryAsync();
        }

        var import = Import(caseId, File(Row("TT-1"), Row("TT-2", buyer: "Li Wei", email: "li@example.com", amount: "999.50"), Row("TT-3", buyer: "Ana Lima", email: "ana@example.com")));
        await using (var watch = await Connection())
        {
            // Wait until the import's COPY waits on the rival's fingerprint, then let the rival commit.
            var waiting = false;
            for (var i = 0; i < 300 && !waiting && !import.IsCompleted; i++)
            {
                await using var check = new NpgsqlCommand("select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query ilike 'copy %'", watch);
                waiting = (long)(await check.ExecuteScalarAsync())! > 0;
                if (!waiting) await Task.Delay(50);
            }
            waiting.ShouldBeTrue("the import's COPY should wait on the uncommitted fingerprint");
        }
        await rivalTx.CommitAsync();

        var response = await import;
        await response.ShouldBe(200);
        var rows = (await response.Json()).GetProperty("rows").EnumerateArray().ToArray();
        rows.Select(r => r.GetProperty("outcome").GetString()).ShouldBe(["filed", "refused", "filed"]);
        rows[1].GetProperty("code").GetString().ShouldBe("duplicate-claim");
        rows[1].GetProperty("detail").GetString()!.ShouldContain("CL-2011-999999-0");

        // The COPY batch left nothing behind: only the two claims filed one by one afterwards exist, each whole.
        await using var query = App.Store.QuerySession();
        (await query.Query<Claim>().CountAsync()).ShouldBe(2);
        (await TotalsRows()).ShouldBe(2);
        (await query.Query<ClaimAccess>().CountAsync()).ShouldBe(2);
        (await query.Query<BuyerDetails>().CountAsync()).ShouldBe(2);
        (await query.Query<ClaimFingerprint>().CountAsync()).ShouldBe(5);
        (await Marten.QueryableExtensions.CountAsync(query.Events.QueryRawEventDataOnly<ClaimFiled>())).ShouldBe(2);
        foreach (var row in rows.Where(r => r.GetProperty("outcome").GetString() == "filed"))
            (await App.GetClaim(row.GetProperty("claimId").GetGuid())).GetProperty("reference").GetString().ShouldBe(row.GetProperty("reference").GetString());
        (await App.EventCount()).ShouldBeGreaterThanOrEqualTo(events + 2);
    }

    [Fact]
    public async Task a_failed_copy_batch_writes_nothing_at_all()
    {
        var caseId = await App.OpenFlaggedCase();
        var stored = await App.FileClaim(ClaimApi.Filing(caseId, paymentReference: "TT-STORED", buyer: "Stored Buyer"));
        CompensationLedger.Cases.FraudCase? fraudCase;
        await using (var session = App.Store.QuerySession()) fraudCase = await session.LoadAsync<CompensationLedger.Cases.FraudCase>(caseId);
        var terms = new ClaimPolicySettings().Terms();
        ClaimToFile Claim(string paymentReference, string buyer, int number)
        {
            var command = new FileClaim(caseId, new ClaimantBuyer(buyer, "US", $"{number}@example.com"), "Alibaba.com", ClaimApi.FlaggedSupplier, "ORD-" + number,
                new NodaTime.LocalDate(2011, 2, 1), new NodaTime.LocalDate(2011, 2, 10), new Money(1400.00m, "USD"), paymentReference, "200 laptops");
            var filed = (ClaimFiled)FileClaimEndpoint.Decide(Guid.CreateVersion7(), ClaimReferences.Format(2011, 900000 + number), command, fraudCase!, terms, null, "hana", App.Clock.GetCurrentInstant()).Events[0];
            return new ClaimToFile(filed, command, AccessCodes.New());
        }
        var before = await ReadModels();
        var events = await App.EventCount();

        // The last claim repeats the stored claim's payment: its fingerprint's key refuses the batch.
        var batch = new[] { Claim("TT-A", "A Buyer", 1), Claim("TT-B", "B Buyer", 2), Claim("TT-STORED", "C Buyer", 3) };
        var failure = await Should.ThrowAsync<Exception>(() => ClaimCopy.For(App.Store, out _)!.WriteAsync(batch, CancellationToken.None));

        ClaimCopy.IsConflict(failure).ShouldBeTrue(failure.ToString());
        (await App.EventCount()).ShouldBe(events);
        var after = await ReadModels();
        foreach (var table in before.Keys) after[table].ShouldBe(before[table], table);
        await using var connection = await Connection();
        await using var streams = new NpgsqlCommand($"select count(*) from {LedgerSetup.Schema}.mt_streams where id = any(@ids)", connection);
        streams.Parameters.AddWithValue("ids", batch.Select(c => c.Filed.ClaimId).ToArray());
        ((long)(await streams.ExecuteScalarAsync())!).ShouldBe(0);
        stored.GetProperty("reference").GetString().ShouldNotBeNull();
    }

    [Fact]
    public async Task an_import_retried_with_the_same_idempotency_key_files_nothing_the_second_time()
    {
        var caseId = await App.OpenFlaggedCase();
        var csv = File(Row("TT-1"), Row("TT-2", buyer: "Li Wei", email: "li@example.com"));
        var first = await Import(caseId, csv, idempotencyKey: "import-1");
        await first.ShouldBe(200);
        (await first.Json()).GetProperty("counts").GetProperty("filed").GetInt32().ShouldBe(2);
        var events = await App.EventCount();
        var models = await ReadModels();

        var retry = await Import(caseId, csv, idempotencyKey: "import-1");

        await retry.ShouldBe(200);
        retry.Headers.GetValues(IdempotencyMiddleware.ReplayedHeader).ShouldBe(["true"]);
        (await App.EventCount()).ShouldBe(events);
        var after = await ReadModels();
        foreach (var table in models.Keys) after[table].ShouldBe(models[table], table);
        // Another body under the same key is refused, and files nothing either.
        await (await Import(caseId, File(Row("TT-9", buyer: "New Buyer")), idempotencyKey: "import-1")).ShouldBeProblem(422);
        (await App.EventCount()).ShouldBe(events);
    }

    /// <summary>Paid-vs-lost's rows per claim (<see cref="CompensationLedger.Reports.ClaimTotalsProjection"/>).</summary>
    private async Task<int> TotalsRows()
    {
        await using var connection = await Connection();
        await using var count = new NpgsqlCommand($"select count(*)::int from {LedgerSetup.Schema}.{CompensationLedger.Reports.ClaimTotalsProjection.ClaimsTable}", connection);
        return (int)(await count.ExecuteScalarAsync())!;
    }
}
