using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// A PostgreSQL cluster run from the binaries installed on this machine (Debian's postgresql
/// packages). The service uses a persistent one as its embedded default; the tests use a
/// throwaway one. initdb refuses to run as root, so as root every server command runs as the
/// <c>postgres</c> user through runuser.
/// </summary>
public sealed class LocalPostgresCluster : IAsyncDisposable, IDisposable
{
    private readonly bool _throwaway;
    private readonly bool _durable;
    private bool _stopped;
    private bool _adopted;

    private LocalPostgresCluster(string binDirectory, string dataDirectory, int port, bool throwaway, bool durable)
    {
        _durable = durable;
        BinDirectory = binDirectory;
        DataDirectory = dataDirectory;
        Port = port;
        _throwaway = throwaway;
    }

    public string BinDirectory { get; }

    public string DataDirectory { get; }

    public int Port { get; }

    /// <summary>A connection string for <paramref name="database"/> on this cluster (trust auth, loopback only).</summary>
    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = "postgres",
        Database = database,
        MaxPoolSize = 50,
    }.ConnectionString;

    /// <summary>
    /// Starts (creating it first if needed) a cluster kept in <paramref name="dataDirectory"/>
    /// between runs. A server already running on that folder is adopted.
    /// </summary>
    public static LocalPostgresCluster StartPersistent(string dataDirectory, int port) =>
        Start(dataDirectory, port, throwaway: false, durable: true);

    /// <summary>
    /// Starts a fresh cluster in a temporary folder, removed on dispose. Tuned for tests (no fsync)
    /// unless <paramref name="durable"/>: benchmarks measure with PostgreSQL's durable defaults.
    /// </summary>
    public static LocalPostgresCluster StartThrowaway(bool durable = false)
    {
        var folder = Path.Combine(Path.GetTempPath(), "ledger-pg-" + Guid.NewGuid().ToString("N")[..12]);
        return Start(folder, FreePort(), throwaway: true, durable);
    }

    private static LocalPostgresCluster Start(string dataDirectory, int port, bool throwaway, bool durable)
    {
        var bin = FindBinDirectory()
            ?? throw new LedgerDatabaseUnavailableException(
                "No PostgreSQL server binaries were found (initdb, pg_ctl): install them with 'apt-get install postgresql' or set ConnectionStrings__Ledger to a PostgreSQL server.");
        dataDirectory = Path.GetFullPath(dataDirectory);
        var cluster = new LocalPostgresCluster(bin, dataDirectory, port, throwaway, durable);
        cluster.InitIfNeeded();
        cluster.StartServer();
        return cluster;
    }

    /// <summary>Creates <paramref name="database"/> unless it exists.</summary>
    public async Task EnsureDatabaseAsync(string database, CancellationToken cancellationToken = default)
    {
        // Unpooled: a pooled connection may belong to an earlier run of this server that has since stopped.
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString("postgres")) { Pooling = false }.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var exists = new NpgsqlCommand("select 1 from pg_database where datname = @name", connection);
        exists.Parameters.AddWithValue("name", database);
        if (await exists.ExecuteScalarAsync(cancellationToken) is not null) return;
        await using var create = new NpgsqlCommand($"create database \"{database.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", connection);
        await create.ExecuteNonQueryAsync(cancellationToken);
    }

    private static bool RunningAsRoot => Environment.UserName == "root";

    private string Tool(string name) => Path.Combine(BinDirectory, name);

    private void InitIfNeeded()
    {
        if (File.Exists(Path.Combine(DataDirectory, "PG_VERSION"))) return;
        Directory.CreateDirectory(DataDirectory);
        if (RunningAsRoot)
        {
            Run("chown", ["-R", "postgres:postgres", DataDirectory], asPostgres: false);
            if (!OperatingSystem.IsWindows()) MakeTraversable(DataDirectory);
        }
        var args = new List<string> { "-D", DataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C" };
        if (!_durable) args.Add("--no-sync");
        Run(Tool("initdb"), args, asPostgres: true);
    }

    private void StartServer()
    {
        if (Run(Tool("pg_ctl"), ["-D", DataDirectory, "status"], asPostgres: true, throwOnError: false).ExitCode == 0)
        {
            // Another process (a running service, or one killed without cleaning up) owns this server: use it, never stop it.
            _adopted = true;
            return;
        }

        var options = $"-p {Port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{DataDirectory}' -c max_connections=200";
        if (!_durable) options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off";
        // Extra server settings for profiling (PROFILING.md), e.g. LEDGER_POSTGRES_OPTIONS="-c log_min_duration_statement=100".
        if (Environment.GetEnvironmentVariable("LEDGER_POSTGRES_OPTIONS") is { Length: > 0 } extra) options += " " + extra;
        Run(Tool("pg_ctl"), ["-D", DataDirectory, "-l", Path.Combine(DataDirectory, "server.log"), "-o", options, "-w", "-t", "60", "start"], asPostgres: true);
    }

    /// <summary>True when the server was already running (started by another process): it is used, and left running.</summary>
    public bool Adopted => _adopted;

    public void Stop()
    {
        if (_stopped || _adopted) return;
        _stopped = true;
        Run(Tool("pg_ctl"), ["-D", DataDirectory, "-m", "fast", "-w", "stop"], asPostgres: true, throwOnError: false);
        if (_throwaway)
        {
            try { Directory.Delete(DataDirectory, recursive: true); }
            catch (IOException) { /* a leftover temp folder is harmless */ }
            catch (UnauthorizedAccessException) { }
        }
    }

    public void Dispose() => Stop();

    public ValueTask DisposeAsync()
    {
        Stop();
        return ValueTask.CompletedTask;
    }

    /// <summary>The bin folder of the newest installed PostgreSQL, or of initdb on PATH.</summary>
    public static string? FindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("LEDGER_PG_BIN");
        if (!string.IsNullOrWhiteSpace(configured) && File.Exists(Path.Combine(configured, "initdb"))) return configured;

        const string debianRoot = "/usr/lib/postgresql";
        if (Directory.Exists(debianRoot))
        {
            var newest = Directory.GetDirectories(debianRoot)
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .Where(d => File.Exists(Path.Combine(d.Dir, "bin", "initdb")) && File.Exists(Path.Combine(d.Dir, "bin", "postgres")))
                .OrderByDescending(d => d.Version)
                .FirstOrDefault();
            if (newest.Dir is not null) return Path.Combine(newest.Dir, "bin");
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"))) return dir;
        }
        return null;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    // The postgres user must be able to reach a data folder that root created under its own tree.
    private static void MakeTraversable(string directory)
    {
        for (var parent = Path.GetDirectoryName(directory); !string.IsNullOrEmpty(parent) && parent != "/"; parent = Path.GetDirectoryName(parent))
        {
            var mode = File.GetUnixFileMode(parent);
            if (!mode.HasFlag(UnixFileMode.OtherExecute))
                File.SetUnixFileMode(parent, mode | UnixFileMode.OtherExecute);
        }
    }

    private static (int ExitCode, string Output) Run(string file, IReadOnlyList<string> args, bool asPostgres, bool throwOnError = true)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asPostgres && RunningAsRoot)
        {
            start.FileName = "runuser";
            foreach (var a in new[] { "-u", "postgres", "--", file }) start.ArgumentList.Add(a);
        }
        else
        {
            start.FileName = file;
        }
        foreach (var a in args) start.ArgumentList.Add(a);

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        var output = stdout.Result + stderr.Result;
        if (throwOnError && process.ExitCode != 0)
            throw new LedgerDatabaseUnavailableException(
                $"'{Path.GetFileName(file)} {string.Join(' ', args)}' failed (exit {process.ExitCode}): {output.Trim()}");
        return (process.ExitCode, output);
    }
}

/// <summary>The service cannot get a database; the message says what to do about it.</summary>
public sealed class LedgerDatabaseUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
