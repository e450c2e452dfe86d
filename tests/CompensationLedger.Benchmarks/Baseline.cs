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
