using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Marten;
using Npgsql;
using Weasel.Postgresql;

namespace CompensationLedger.Claims;

/// <summary>
/// Human claim references: <c>CL-2011-000123-4</c>, the filing year, a number from a database sequence
/// (unique across instances; gaps are harmless) and an ISO 7064 MOD 11-2 check character (0-9 or X),
/// which catches every single wrong digit and every swap of two adjacent digits when a buyer reads it out.
/// </summary>
public static class ClaimReferences
{
    public const string SequenceName = "claim_reference_seq";

    public static string Format(int year, long number)
    {
        var digits = year.ToString("D4", CultureInfo.InvariantCulture) + number.ToString("D6", CultureInfo.InvariantCulture);
        return $"CL-{year:D4}-{number.ToString("D6", CultureInfo.InvariantCulture)}-{CheckCharacter(digits)}";
    }

    /// <summary>True when the reference is well formed and its check character matches (case-insensitive, spaces ignored).</summary>
    public static bool IsValid(string? reference) => Normalise(reference) is not null;

    /// <summary>The canonical form of a reference as typed by a person, or null when it is malformed or its check character is wrong.</summary>
    public static string? Normalise(string? reference)
    {
        if (reference is null) return null;
        var compact = new string(reference.Where(c => !char.IsWhiteSpace(c)).Select(char.ToUpperInvariant).ToArray());
        var parts = compact.Split('-');
        if (parts is not ["CL", { Length: 4 } year, { Length: >= 6 } number, { Length: 1 } check]
            || !year.All(char.IsAsciiDigit) || !number.All(char.IsAsciiDigit)) return null;
        return CheckCharacter(year + number) == check[0] ? compact : null;
    }

    /// <summary>ISO 7064 MOD 11-2 over decimal digits.</summary>
    public static char CheckCharacter(string digits)
    {
        var sum = 0;
        foreach (var digit in digits) sum = (sum + (digit - '0')) * 2 % 11;
        var check = (12 - sum) % 11;
        return check == 10 ? 'X' : (char)('0' + check);
    }

    public static Sequence Sequence(string schema) => new(new PostgresqlObjectName(schema, SequenceName, SchemaUtils.IdentifierUsage.General));

    public static async Task<long> NextNumberAsync(IDocumentStore store, CancellationToken ct)
    {
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var next = new NpgsqlCommand($"select nextval('{store.Options.DatabaseSchemaName}.{SequenceName}')", connection);
        return (long)(await next.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// A filing's number as a query for a Marten batch (parameters: the case id, the filing's fingerprint ids): one row
    /// (a <see cref="ReferenceNumber"/>) with the next number when the case exists and no fingerprint is taken, no row (and
    /// no number used) otherwise.
    /// </summary>
    public static string NextNumberUnlessTakenSql(IDocumentStore store) =>
        $"select jsonb_build_object('number', nextval('{store.Options.DatabaseSchemaName}.{SequenceName}')) where exists (select 1 from {TableOf<Cases.FraudCase>(store)} where id = ?)"
        + $" and not exists (select 1 from {TableOf<ClaimFingerprint>(store)} where id = any(?))";

    /// <summary>A number from the sequence, as a batched query returns it.</summary>
    public sealed record ReferenceNumber(long Number);

    private static string TableOf<T>(IDocumentStore store) => store.Options.FindOrResolveDocumentType(typeof(T)).TableName.QualifiedName;

    /// <summary><paramref name="count"/> numbers in one round trip, for a batch of filings (an import).</summary>
    public static async Task<long[]> NextNumbersAsync(IDocumentStore store, int count, CancellationToken ct)
    {
        if (count == 0) return [];
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        await using var next = new NpgsqlCommand($"select nextval('{store.Options.DatabaseSchemaName}.{SequenceName}') from generate_series(1, @count)", connection);
        next.Parameters.AddWithValue("count", count);
        var numbers = new long[count];
        await using var reader = await next.ExecuteReaderAsync(ct);
        for (var i = 0; await reader.ReadAsync(ct); i++) numbers[i] = reader.GetInt64(0);
        return numbers;
    }
}

/// <summary>
/// The buyer's access code: 120 random bits as 24 base32 characters in groups of four, shown once at
/// filing. Only its SHA-256 is stored (in <see cref="ClaimAccess"/>, never in an event): with this much
/// entropy a fast hash cannot be brute-forced, so no slow KDF is needed.
/// </summary>
public static class AccessCodes
{
    private const string Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"; // 32 symbols, no 0/O, 1/I look-alikes

    public static string New()
    {
        var bytes = RandomNumberGenerator.GetBytes(24);
        var chars = bytes.Select(b => Alphabet[b & 31]).ToArray(); // 5 bits each from a uniform byte: uniform
        return string.Join('-', chars.Chunk(4).Select(c => new string(c)));
    }

    public static string Hash(string code)
    {
        var canonical = new string(code.Where(char.IsLetterOrDigit).Select(char.ToUpperInvariant).ToArray());
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }
}

/// <summary>The hash of a claim's access code, for the buyer's status lookup. Not personal data; never in an event.</summary>
public sealed record ClaimAccess(Guid Id, string Reference, string CodeHash);
