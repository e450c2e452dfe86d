using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace CompensationLedger.Benchmarks;

/// <summary>
/// A second baseline for filing (scenario 1) and bulk intake (scenario 3): the rows the service writes for a claim, by raw SQL. The
/// service's own tables are copied into a schema of their own (<c>like ... including all</c>: the same columns, types, defaults,
/// indexes and unique keys; Marten's foreign key from events to streams added back; sequences of their own), and each copy inserts
/// a real claim's rows, read from the service's tables, with its id, event id, reference, fingerprint keys and idempotency key
/// replaced at the same length: the same JSON, the same sizes, the same index entries. A filing is one transaction with a
/// reference number from a sequence, as the minimal baseline's; an import is COPY per batch, as the service's import.
/// The minimal baseline (<see cref="Baseline"/>) writes what any design must: smaller rows into tables with a key each. So the two
/// ratios split the gap: the service against these rows is what the service's code costs (HTTP, Marten, Wolverine, the reads
/// before the decision), these rows against the minimal ones what the service's data model costs (a claim snapshot of 1.3 kB with
/// four indexes, the paid-vs-lost line and its change row, fingerprints keyed by 70-character hashes, Marten's columns).
/// </summary>
public sealed class ServiceRows
{
    public const string Schema = "service_rows";
    private const string IdempotencyTable = "idempotency_keys";

    private readonly string connectionString;
    private readonly IReadOnlyList<Table> tables;
    private readonly Guid claimId;
    private readonly Guid eventId;
    private readonly string idempotencyKey;
    private readonly IReadOnlyList<(string From, Func<int, Guid, string> To)> texts;

    private ServiceRows(string connectionString, IReadOnlyList<Table> tables, Guid claimId, Guid eventId, string idempotencyKey,
        IReadOnlyList<(string, Func<int, Guid, string>)> texts)
    {
        this.connectionString = connectionString;
        this.tables = tables;
        this.claimId = claimId;
        this.eventId = eventId;
        this.idempotencyKey = idempotencyKey;
        this.texts = texts;
    }

    /// <summary>
    /// The tables a filing writes and which of their rows are the filing's (parameter: the claim's id). The idempotency key's row is
    /// there when the filing came with a key (scenario 1's do; an import's claims have none).
    /// </summary>
    private static readonly (string Table, string Where)[] Written =
    [
        (IdempotencyTable, "location = '/api/claims/' || @id::text"),
        ("mt_streams", "id = @id"),
        ("mt_events", "stream_id = @id"),
        ("mt_doc_claim", "id = @id"),
        ("mt_doc_claimfingerprint", "data ->> 'claimId' = @id::text"),
        ("mt_doc_buyerdetails", "id = @id"),
        ("mt_doc_claimaccess", "id = @id"),
        ("report_claim_totals", "claim_id = @id"),
        ("report_claim_totals_changes", "claim_id = @id"),
    ];

    /// <summary>
    /// Copies the tables into <see cref="Schema"/> (dropping an earlier copy) and takes the rows of the claim with this reference, or
    /// with this order reference, as the template.
    /// </summary>
    public static async Task<ServiceRows> PrepareAsync(string connectionString, string ledgerSchema, string? reference = null, string? orderReference = null)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await Execute(connection, $"drop schema if exists {Schema} cascade; create schema {Schema}; create sequence {Schema}.claim_reference_seq;");
        foreach (var (table, _) in Written)
            await Execute(connection, $"create table {Schema}.{table} (like {ledgerSchema}.{table} including all)");
        // A copied default that draws from the service's sequence draws from one of the copy's own instead.
        var defaults = await Pairs(connection,
            "select table_name, column_name from information_schema.columns where table_schema = @schema and column_default like 'nextval(%'", Schema);
        // Marten numbers events in its append function (nextval of its events sequence), not by a default: so does the copy's default.
        if (!defaults.Contains(("mt_events", "seq_id"))) defaults.Add(("mt_events", "seq_id"));
        foreach (var (table, column) in defaults)
            await Execute(connection, $"create sequence {Schema}.{table}_{column}_seq; alter table {Schema}.{table} alter column {column} set default nextval('{Schema}.{table}_{column}_seq')");
        // Foreign keys between the written tables (Marten's from events to streams), pointed at the copies.
        var foreignKeys = await Pairs(connection,
            "select conrelid::regclass::text, pg_get_constraintdef(oid) from pg_constraint where contype = 'f' and connamespace = @schema::regnamespace", ledgerSchema);
        foreach (var (table, definition) in foreignKeys)
        {
            var name = table[(table.LastIndexOf('.') + 1)..];
            if (Written.Any(w => w.Table == name))
                await Execute(connection, $"alter table {Schema}.{name} add {definition.Replace($"REFERENCES {ledgerSchema}.", $"REFERENCES {Schema}.", StringComparison.Ordinal)}");
        }

        Guid id;
        await using (var find = new NpgsqlCommand($"select id, data ->> 'reference' from {ledgerSchema}.mt_doc_claim where data ->> @field = @value", connection))
        {
            find.Parameters.AddWithValue("field", reference is null ? "orderReference" : "reference");
            find.Parameters.AddWithValue("value", reference ?? orderReference ?? throw new ArgumentException("A reference or an order reference is needed"));
            await using var reader = await find.ExecuteReaderAsync();
            if (!await reader.ReadAsync()) throw new InvalidOperationException($"No claim {reference ?? orderReference} to copy");
            (id, reference) = (reader.GetGuid(0), reader.GetString(1));
        }
        var tables = new List<Table>();
        foreach (var (table, where) in Written)
        {
            await using var read = new NpgsqlCommand($"select * from {ledgerSchema}.{table} where {where}", connection);
            read.Parameters.AddWithValue("id", id);
            await using var reader = await read.ExecuteReaderAsync();
            var columns = Enumerable.Range(0, reader.FieldCount).Select(i => (reader.GetName(i), reader.GetDataTypeName(i))).ToArray();
            var rows = new List<object?[]>();
            while (await reader.ReadAsync())
                rows.Add(Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? null : reader.GetValue(i)).ToArray());
            if (rows.Count == 0 && table == IdempotencyTable) continue;
            if (rows.Count == 0) throw new InvalidOperationException($"The filing {reference} wrote no row to {table}: the benchmark's list of what a filing writes is out of date");
            // A column the database numbers (the events' sequence) is left to it, as the service leaves it.
            var numbered = columns.Select((c, i) => (c, i)).Where(x => defaults.Contains((table, x.c.Item1))).Select(x => x.i).ToHashSet();
            tables.Add(new Table(table, columns.Where((_, i) => !numbered.Contains(i)).ToArray(), rows.Select(r => r.Where((_, i) => !numbered.Contains(i)).ToArray()).ToArray()));
        }

        // Every value that names the filing is replaced per copy, in place and at the same length (so the same sizes): its id, its
        // event's id, its reference, its fingerprints' keys (in any text), and its idempotency key (the column's whole value).
        var eventId = (Guid)tables.Single(t => t.Name == "mt_events").Value(0, "id")!;
        var idempotencyKey = tables.SingleOrDefault(t => t.Name == IdempotencyTable)?.Value(0, "key") as string ?? "";
        var texts = new List<(string, Func<int, Guid, string>)>
        {
            (id.ToString(), (_, newId) => newId.ToString()),
            (eventId.ToString(), (_, newId) => EventId(newId).ToString()),
            (reference, (n, _) => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"CL-9999-{n:D6}-0")),
        };
        foreach (var key in tables.Single(t => t.Name == "mt_doc_claimfingerprint").Column("id").Cast<string>())
        {
            var hex = key[(key.IndexOf(':') + 1)..];
            var kind = key[..(key.IndexOf(':') + 1)];
            texts.Add((hex, (n, _) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(kind + n)))[..hex.Length]));
        }
        return new ServiceRows(connectionString, tables, id, eventId, idempotencyKey, texts);
    }

    /// <summary>Drops the copies (so autovacuum and checkpoints have nothing of them to do in the scenarios after).</summary>
    public static async Task DropAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await Execute(connection, $"drop schema if exists {Schema} cascade");
    }

    /// <summary>Rows per filing, table by table ("mt_events 1, ..."), for the notes.</summary>
    public string Describe() => string.Join(", ", tables.Select(t => $"{t.Name} {t.Rows.Length}"));

    /// <summary>The <paramref name="n"/>th copy of the filing, in one transaction (a reference number from a sequence, then every row).</summary>
    public async Task FileClaim(int n)
    {
        var newId = Guid.CreateVersion7();
        var replacements = texts.Select(t => (t.From, To: t.To(n, newId))).ToArray();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await using var batch = new NpgsqlBatch(connection, tx);
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"select nextval('{Schema}.claim_reference_seq')"));
        foreach (var table in tables)
        {
            foreach (var row in table.Rows)
            {
                var command = new NpgsqlBatchCommand(table.Insert);
                for (var i = 0; i < row.Length; i++)
                    command.Parameters.Add(new NpgsqlParameter { Value = Copied(row[i], n, newId, replacements) ?? DBNull.Value, DataTypeName = table.Columns[i].Type });
                batch.BatchCommands.Add(command);
            }
        }
        await batch.ExecuteNonQueryAsync();
        await tx.CommitAsync();
    }

    /// <summary>
    /// The bulk import's rows by hand (scenario 3's second baseline): per batch of <paramref name="batchSize"/>, in one transaction,
    /// one lookup of the batch's fingerprints, the batch's reference numbers in one round trip, then COPY of every table's rows, as the
    /// import's COPY path writes them. Copies are numbered from <paramref name="offset"/>.
    /// </summary>
    public async Task CopyAsync(int rows, int batchSize, int offset)
    {
        var fingerprints = tables.Single(t => t.Name == "mt_doc_claimfingerprint");
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        for (var start = 0; start < rows; start += batchSize)
        {
            var copies = Enumerable.Range(offset + start, Math.Min(batchSize, rows - start))
                .Select(n => (N: n, Id: Guid.CreateVersion7())).Select(c => (c.N, c.Id, Replacements: texts.Select(t => (t.From, To: t.To(c.N, c.Id))).ToArray())).ToArray();
            await using var tx = await connection.BeginTransactionAsync();
            await using (var lookup = new NpgsqlCommand($"select id from {Schema}.{fingerprints.Name} where id = any(@keys)", connection, tx))
            {
                lookup.Parameters.AddWithValue("keys", copies.SelectMany(c => fingerprints.Column("id").Select(k => (string)Copied(k, c.N, c.Id, c.Replacements)!)).ToArray());
                if (await lookup.ExecuteScalarAsync() is not null) throw new InvalidOperationException("The copies' fingerprints are already there");
            }
            await using (var numbers = new NpgsqlCommand($"select nextval('{Schema}.claim_reference_seq') from generate_series(1, @count)", connection, tx))
            {
                numbers.Parameters.AddWithValue("count", copies.Length);
                await using var reader = await numbers.ExecuteReaderAsync();
                while (await reader.ReadAsync()) _ = reader.GetInt64(0);
            }
            foreach (var table in tables)
            {
                await using var writer = await connection.BeginBinaryImportAsync(
                    $"copy {Schema}.{table.Name} ({string.Join(", ", table.Columns.Select(c => "\"" + c.Name + "\""))}) from stdin (format binary)");
                foreach (var (n, id, replacements) in copies)
                    foreach (var row in table.Rows)
                    {
                        await writer.StartRowAsync();
                        for (var i = 0; i < row.Length; i++)
                            if (Copied(row[i], n, id, replacements) is { } value) await writer.WriteAsync(value, table.Columns[i].Type);
                            else await writer.WriteNullAsync();
                    }
                await writer.CompleteAsync();
            }
            await tx.CommitAsync();
        }
    }

    /// <summary>A template value as the <paramref name="n"/>th copy has it.</summary>
    private object? Copied(object? value, int n, Guid newId, (string From, string To)[] replacements) => value switch
    {
        Guid g when g == claimId => newId,
        Guid g when g == eventId => EventId(newId),
        string s when s.Length > 0 && s == idempotencyKey => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"same-rows-{n}"),
        string s => Replace(s, replacements),
        var other => other,
    };

    /// <summary>Each copy's event id, derived from its claim id so the event row and the change row that names it agree.</summary>
    private static Guid EventId(Guid claimId)
    {
        Span<byte> bytes = stackalloc byte[16];
        claimId.TryWriteBytes(bytes);
        bytes[15] ^= 0xFF;
        return new Guid(bytes);
    }

    private static string Replace(string text, (string From, string To)[] replacements)
    {
        foreach (var (from, to) in replacements)
            if (text.Contains(from, StringComparison.Ordinal)) text = text.Replace(from, to, StringComparison.Ordinal);
        return text;
    }

    /// <summary>The rows of a two-text-column query over one schema (<c>@schema</c>).</summary>
    private static async Task<List<(string, string)>> Pairs(NpgsqlConnection connection, string sql, string schema)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("schema", schema);
        await using var reader = await command.ExecuteReaderAsync();
        var pairs = new List<(string, string)>();
        while (await reader.ReadAsync()) pairs.Add((reader.GetString(0), reader.GetString(1)));
        return pairs;
    }

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private sealed record Table(string Name, (string Name, string Type)[] Columns, object?[][] Rows)
    {
        public string Insert { get; } =
            $"insert into {Schema}.{Name} ({string.Join(", ", Columns.Select(c => "\"" + c.Name + "\""))}) values ({string.Join(", ", Columns.Select((_, i) => "$" + (i + 1)))})";

        public object? Value(int row, string column) => Rows[row][Array.FindIndex(Columns, c => c.Name == column)];

        public IEnumerable<object?> Column(string column) => Rows.Select((_, i) => Value(i, column));
    }
}
