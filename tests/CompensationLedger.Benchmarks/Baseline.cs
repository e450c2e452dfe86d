using System.Text.Json;
using Npgsql;
using NpgsqlTypes;

namespace CompensationLedger.Benchmarks;

/// <summary>
/// The unavoidable database work, by hand: what a filing must write (a stream row, an event, the
/// claim's read model, two duplicate fingerprints under unique keys, the buyer's details, the access
/// hash, a reference number from a sequence, the idempotency record) in one transaction; and what a
/// lookup must read (the access row by reference, then the claim's events).
/// </summary>
public static class Baseline
{
    public static async Task CreateTables(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand("""
            create sequence if not exists reference_seq;
            create table if not exists streams (id uuid primary key, type text, version int, created timestamptz default now());
            create table if not exists events (seq bigserial primary key, stream_id uuid, version int, type text, data jsonb, at timestamptz default now(), unique (stream_id, version));
            create table if not exists claims (id uuid primary key, data jsonb);
            create table if not exists fingerprints (id text primary key, data jsonb);
            create table if not exists buyers (id uuid primary key, data jsonb);
            create table if not exists access (id uuid primary key, reference text unique, hash text);
            create table if not exists idempotency (scope text, key text, hash text, status int, body bytea, primary key (scope, key));
            """, connection);
        await create.ExecuteNonQueryAsync();
    }

    public static async Task FileClaim(string connectionString, int n)
    {
        var id = Guid.CreateVersion7();
        var data = JsonSerializer.Serialize(new
        {
            claimId = id, caseId = Guid.Empty, reference = $"CL-2026-{n:000000}-0", buyerCountry = "US", platform = "Alibaba.com",
            supplierAccount = "cnbench", orderReference = $"ORD-{n}", orderDate = "2026-11-13", paymentDate = "2026-11-15",
            amountPaid = new { amount = 1000m + n % 900, currency = "USD" }, paymentReference = $"TT-BENCH-{n}", goodsDescription = "Laptops",
        });
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await using var batch = new NpgsqlBatch(connection, tx)
        {
            BatchCommands =
            {
                Command("insert into idempotency (scope, key, hash) values ('staff:hana', @p0, 'h')", $"file-{n}"),
                Command("select nextval('reference_seq')"),
                Command("insert into streams (id, type, version) values (@p0, 'claim', 1)", id),
                Command("insert into events (stream_id, version, type, data) values (@p0, 1, 'claim_filed', @p1)", id, Json(data)),
                Command("insert into claims (id, data) values (@p0, @p1)", id, Json(data)),
                Command("insert into fingerprints (id, data) values (@p0, @p1)", $"pay:{n}", Json("{}")),
                Command("insert into fingerprints (id, data) values (@p0, @p1)", $"buyer:{n}", Json("{}")),
                Command("insert into buyers (id, data) values (@p0, @p1)", id, Json($$"""{"name":"Buyer {{n}}","email":"b{{n}}@example.com"}""")),
                Command("insert into access (id, reference, hash) values (@p0, @p1, @p2)", id, $"REF-{n}", new string('a', 64)),
                Command("update idempotency set status = 201, body = @p1 where scope = 'staff:hana' and key = @p0", $"file-{n}", new byte[600]),
            },
        };
        await batch.ExecuteNonQueryAsync();
        await tx.CommitAsync();
    }

    /// <summary>
    /// Bulk intake by hand: per batch of <paramref name="batchSize"/> rows (the import's batch), one lookup of the batch's
    /// fingerprints, the batch's reference numbers in one round trip, then COPY of every row the import writes (stream,
    /// event, read model, two fingerprints, buyer, access hash), one transaction per batch as the service commits.
    /// </summary>
    public static async Task BulkImport(string connectionString, int rows, int batchSize)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        for (var start = 0; start < rows; start += batchSize)
        {
            var count = Math.Min(batchSize, rows - start);
            var ids = Enumerable.Range(start, count).Select(_ => Guid.CreateVersion7()).ToArray();
            await using var tx = await connection.BeginTransactionAsync();
            await using (var lookup = new NpgsqlCommand("select id from fingerprints where id = any(@p0)", connection, tx))
            {
                lookup.Parameters.AddWithValue("p0", Enumerable.Range(start, count).SelectMany(n => new[] { $"bulk-pay:{n}", $"bulk-buyer:{n}" }).ToArray());
                await using var found = await lookup.ExecuteReaderAsync();
                while (await found.ReadAsync()) throw new InvalidOperationException("The baseline's bulk rows are already there");
            }
            await using (var numbers = new NpgsqlCommand("select nextval('reference_seq') from generate_series(1, @p0)", connection, tx))
            {
                numbers.Parameters.AddWithValue("p0", count);
                await using var reader = await numbers.ExecuteReaderAsync();
                while (await reader.ReadAsync()) _ = reader.GetInt64(0);
            }

            var data = Enumerable.Range(0, count).Select(i => JsonSerializer.Serialize(new
            {
                claimId = ids[i], caseId = Guid.Empty, reference = $"CL-2026-{start + i:000000}-0", buyerCountry = "US", platform = "Alibaba.com",
                supplierAccount = "cnbench", orderReference = $"ORD-BULK-{start + i}", orderDate = "2026-11-13", paymentDate = "2026-11-15",
                amountPaid = new { amount = 1000m + (start + i) % 900, currency = "USD" }, paymentReference = $"TT-BULK-{start + i}", goodsDescription = "Laptops, \"new\"",
            })).ToArray();
            await Copy(connection, "copy streams (id, type, version) from stdin (format binary)", count, async (w, i) =>
            {
                await w.WriteAsync(ids[i], NpgsqlDbType.Uuid);
                await w.WriteAsync("claim", NpgsqlDbType.Text);
                await w.WriteAsync(1, NpgsqlDbType.Integer);
            });
            await Copy(connection, "copy events (stream_id, version, type, data) from stdin (format binary)", count, async (w, i) =>
            {
                await w.WriteAsync(ids[i], NpgsqlDbType.Uuid);
                await w.WriteAsync(1, NpgsqlDbType.Integer);
                await w.WriteAsync("claim_filed", NpgsqlDbType.Text);
                await w.WriteAsync(data[i], NpgsqlDbType.Jsonb);
            });
            await Copy(connection, "copy claims (id, data) from stdin (format binary)", count, async (w, i) =>
            {
                await w.WriteAsync(ids[i], NpgsqlDbType.Uuid);
                await w.WriteAsync(data[i], NpgsqlDbType.Jsonb);
            });
            await Copy(connection, "copy fingerprints (id, data) from stdin (format binary)", count * 2, async (w, i) =>
            {
                await w.WriteAsync(i % 2 == 0 ? $"bulk-pay:{start + i / 2}" : $"bulk-buyer:{start + i / 2}", NpgsqlDbType.Text);
                await w.WriteAsync($$"""{"claimId":"{{ids[i / 2]}}"}""", NpgsqlDbType.Jsonb);
            });
            await Copy(connection, "copy buyers (id, data) from stdin (format binary)", count, async (w, i) =>
            {
                await w.WriteAsync(ids[i], NpgsqlDbType.Uuid);
                await w.WriteAsync($$"""{"name":"Bulk Buyer {{start + i}}","email":"bulk{{start + i}}@example.com"}""", NpgsqlDbType.Jsonb);
            });
            await Copy(connection, "copy access (id, reference, hash) from stdin (format binary)", count, async (w, i) =>
            {
                await w.WriteAsync(ids[i], NpgsqlDbType.Uuid);
                await w.WriteAsync($"BULK-{start + i}", NpgsqlDbType.Text);
                await w.WriteAsync(new string('a', 64), NpgsqlDbType.Text);
            });
            await tx.CommitAsync();
        }
    }

    private static async Task Copy(NpgsqlConnection connection, string copy, int rows, Func<NpgsqlBinaryImporter, int, Task> row)
    {
        await using var writer = await connection.BeginBinaryImportAsync(copy);
        for (var i = 0; i < rows; i++)
        {
            await writer.StartRowAsync();
            await row(writer, i);
        }
        await writer.CompleteAsync();
    }

    public static async Task LookUp(string connectionString, int n)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var access = new NpgsqlCommand("select id, hash from access where reference = @p0", connection);
        access.Parameters.AddWithValue("p0", $"REF-{n}");
        Guid id;
        await using (var reader = await access.ExecuteReaderAsync())
        {
            if (!await reader.ReadAsync()) throw new InvalidOperationException($"REF-{n} missing from the baseline");
            id = reader.GetGuid(0);
        }
        await using var events = new NpgsqlCommand("select c.data, e.data from claims c join events e on e.stream_id = c.id where c.id = @p0 order by e.version", connection);
        events.Parameters.AddWithValue("p0", id);
        await using var rows = await events.ExecuteReaderAsync();
        while (await rows.ReadAsync()) _ = rows.GetString(1);
    }

    private sealed record JsonText(string Value);

    private static JsonText Json(string value) => new(value);

    private static NpgsqlBatchCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters.Add(values[i] is JsonText json
                ? new NpgsqlParameter($"p{i}", NpgsqlDbType.Jsonb) { Value = json.Value }
                : new NpgsqlParameter($"p{i}", values[i]));
        }
        return command;
    }
}
