using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using JasperFx.CommandLine;
using NodaTime;
using Npgsql;

namespace CompensationLedger.Infrastructure;

/// <summary>One numbered script from <c>migrations/</c>: <c>NNNN_name.sql</c>.</summary>
public sealed record MigrationScript(int Number, string Name, string Sql)
{
    /// <summary>SHA-256 of the script text (line endings normalised), so an applied script that is edited later is noticed.</summary>
    public string Checksum => Convert.ToHexStringLower(
        SHA256.HashData(Encoding.UTF8.GetBytes(Sql.Replace("\r\n", "\n", StringComparison.Ordinal))));
}

/// <summary>What one run of the migrator did.</summary>
public sealed record MigrationRun(IReadOnlyList<string> Applied, IReadOnlyList<string> AlreadyApplied);

/// <summary>
/// Applies the numbered scripts in <c>migrations/</c> to a database, in order, each in its own
/// transaction together with its row in the journal, so a failed script leaves nothing behind and
/// a re-run applies only what is missing. Production creates no schema objects itself
/// (AutoCreate.None); this is the only way its schema changes.
/// </summary>
/// <remarks>
/// The journal lives in its own schema, <see cref="JournalSchema"/>, and is not declared to Marten
/// or Wolverine: it is bookkeeping of the deployment, not part of the model, and db-assert/db-patch
/// only compare the objects they are configured with, so it never shows up as a difference (nor
/// in a generated migration). The migrator creates it on first use.
/// </remarks>
public sealed partial class LedgerMigrator(string connectionString, IClock clock)
{
    public const string JournalSchema = "ledger_migrations";
    public const string JournalTable = "applied";
    public const string FolderName = "migrations";

    // One migrator at a time per database: a second instance waits, then finds the scripts applied.
    private const string LockSql = "select pg_advisory_lock(hashtext('compensation-ledger-migrations'))";
    private const string UnlockSql = "select pg_advisory_unlock(hashtext('compensation-ledger-migrations'))";

    [GeneratedRegex(@"^(?<number>\d{4})_[A-Za-z0-9_\-]+\.sql$", RegexOptions.CultureInvariant)]
    private static partial Regex ScriptName();

    /// <summary>The scripts in <paramref name="folder"/>, ordered by number; two scripts with one number are an error (two branches each added one).</summary>
    public static IReadOnlyList<MigrationScript> Load(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"The migrations folder {folder} does not exist.");
        var scripts = new List<MigrationScript>();
        foreach (var path in Directory.EnumerateFiles(folder, "*.sql"))
        {
            var name = Path.GetFileName(path);
            var match = ScriptName().Match(name);
            if (!match.Success)
                throw new InvalidOperationException(
                    $"{name} in {folder} is not named NNNN_name.sql: rename it, or move it out of the migrations folder.");
            scripts.Add(new MigrationScript(int.Parse(match.Groups["number"].Value, System.Globalization.CultureInfo.InvariantCulture), name, File.ReadAllText(path)));
        }
        var clash = scripts.GroupBy(s => s.Number).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
            throw new InvalidOperationException(
                $"Two migrations share the number {clash.Key:0000} ({string.Join(", ", clash.Select(s => s.Name))}): renumber the newer one (and regenerate it with migrations/new-migration.sh if it was made against the other's schema).");
        return scripts.OrderBy(s => s.Number).ToList();
    }

    /// <summary>
    /// The migrations folder: <paramref name="explicitFolder"/> if given; otherwise <c>migrations/</c>
    /// in the current directory, else in the application folder or the nearest parent of it
    /// (the repository root when run from a build output folder).
    /// </summary>
    public static string FindFolder(string? explicitFolder = null)
    {
        if (!string.IsNullOrWhiteSpace(explicitFolder))
        {
            var full = Path.GetFullPath(explicitFolder);
            return Directory.Exists(full) ? full : throw new DirectoryNotFoundException($"The migrations folder {full} (--folder) does not exist.");
        }

        var here = Path.Combine(Directory.GetCurrentDirectory(), FolderName);
        if (Directory.Exists(here)) return here;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, FolderName);
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException(
            $"No '{FolderName}' folder was found in {Directory.GetCurrentDirectory()} or above {AppContext.BaseDirectory}: pass --folder.");
    }

    /// <summary>
    /// Applies every script not yet in the journal, in order; fails if an applied script has since been changed.
    /// With <paramref name="baselineThrough"/>, scripts numbered up to it that are not in the journal are recorded
    /// as applied without running them: for a database whose schema was built before it had a journal.
    /// </summary>
    public async Task<MigrationRun> ApplyAsync(IReadOnlyList<MigrationScript> scripts, Action<string>? log = null, int? baselineThrough = null, CancellationToken ct = default)
    {
        var applied = new List<string>();
        var skipped = new List<string>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await Execute(connection, null, LockSql, ct);
        try
        {
            await Execute(connection, null,
                $"""
                 create schema if not exists {JournalSchema};
                 create table if not exists {JournalSchema}.{JournalTable} (
                     script      text        primary key,
                     checksum    text        not null,
                     applied_at  timestamptz not null
                 );
                 """, ct);

            var journal = new Dictionary<string, string>(StringComparer.Ordinal);
            await using (var read = new NpgsqlCommand($"select script, checksum from {JournalSchema}.{JournalTable}", connection))
            await using (var reader = await read.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct)) journal[reader.GetString(0)] = reader.GetString(1);
            }

            foreach (var script in scripts)
            {
                if (journal.TryGetValue(script.Name, out var checksum))
                {
                    if (!string.Equals(checksum, script.Checksum, StringComparison.Ordinal))
                        throw new InvalidOperationException(
                            $"{script.Name} was changed after it was applied to this database: applied scripts are history, so restore it and put the change in a new migration (migrations/new-migration.sh).");
                    skipped.Add(script.Name);
                    continue;
                }

                var watch = Stopwatch.StartNew();
                var baseline = script.Number <= baselineThrough;
                await using var transaction = await connection.BeginTransactionAsync(ct);
                try
                {
                    if (!baseline) await Execute(connection, transaction, script.Sql, ct);
                }
                catch (PostgresException e)
                {
                    var hint = e.SqlState == PostgresErrorCodes.DuplicateTable && journal.Count == 0
                        ? " This database already has the schema but no journal: if db-assert finds no differences, record the scripts with --baseline NNNN."
                        : "";
                    throw new InvalidOperationException($"{script.Name} failed and was rolled back: {e.MessageText} ({e.SqlState}).{hint}", e);
                }
                await using (var record = new NpgsqlCommand(
                                 $"insert into {JournalSchema}.{JournalTable} (script, checksum, applied_at) values (@script, @checksum, @at)", connection, transaction))
                {
                    record.Parameters.AddWithValue("script", script.Name);
                    record.Parameters.AddWithValue("checksum", script.Checksum);
                    record.Parameters.AddWithValue("at", clock.GetCurrentInstant().ToDateTimeOffset());
                    await record.ExecuteNonQueryAsync(ct);
                }
                await transaction.CommitAsync(ct);
                if (baseline)
                {
                    skipped.Add(script.Name);
                    log?.Invoke($"Recorded {script.Name} as applied without running it (--baseline)");
                    continue;
                }
                applied.Add(script.Name);
                log?.Invoke($"Applied {script.Name} in {watch.ElapsedMilliseconds} ms");
            }

            foreach (var orphan in journal.Keys.Except(scripts.Select(s => s.Name), StringComparer.Ordinal).Order(StringComparer.Ordinal))
                log?.Invoke($"Warning: {orphan} is recorded as applied but is not in the migrations folder (a newer build applied it?)");
        }
        finally
        {
            // A broken connection has lost the lock with the session; do not hide the original error behind this one.
            if (connection.State == System.Data.ConnectionState.Open) await Execute(connection, null, UnlockSql, CancellationToken.None);
        }
        return new MigrationRun(applied, skipped);
    }

    private static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken ct)
    {
        // No timeout: a migration may build an index over a large table.
        await using var command = new NpgsqlCommand(sql, connection, transaction) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(ct);
    }
}

public sealed class MigrateInput : NetCoreInput
{
    [Description("The folder with the NNNN_name.sql scripts (default: ./migrations, else migrations/ next to or above the application)")]
    [FlagAlias("folder", true)]
    public string? FolderFlag { get; set; }

    [Description("For a database whose schema was built before it had a migration journal: record the scripts numbered up to this one as applied without running them (check first with db-assert)")]
    [FlagAlias("baseline", true)]
    public int? BaselineFlag { get; set; }
}

[Description("Applies the numbered SQL scripts in migrations/ that the configured database (ConnectionStrings__Ledger) has not had yet, in order, each in its own transaction", Name = "migrate")]
public sealed class MigrateCommand : JasperFxAsyncCommand<MigrateInput>
{
    public override async Task<bool> Execute(MigrateInput input)
    {
        try
        {
            var folder = LedgerMigrator.FindFolder(input.FolderFlag);
            var scripts = LedgerMigrator.Load(folder);
            using var host = input.BuildHost();
            var database = host.Services.GetRequiredService<LedgerDatabase>();
            var clock = host.Services.GetRequiredService<IClock>();
            var target = new NpgsqlConnectionStringBuilder(database.ConnectionString);
            Console.WriteLine($"Migrating {target.Host}:{target.Port}/{target.Database} with {scripts.Count} script(s) from {folder}");

            var run = await new LedgerMigrator(database.ConnectionString, clock).ApplyAsync(scripts, Console.WriteLine, input.BaselineFlag);
            Console.WriteLine(run.Applied.Count == 0
                ? $"The database is up to date ({run.AlreadyApplied.Count} script(s) already applied)."
                : $"Applied {run.Applied.Count} script(s); {run.AlreadyApplied.Count} were already applied.");
            return true;
        }
        catch (Exception e) when (e is InvalidOperationException or DirectoryNotFoundException)
        {
            await Console.Error.WriteLineAsync("migrate: " + e.Message);
            return false;
        }
    }
}
