using Npgsql;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// Where the ledger's PostgreSQL is. With <c>ConnectionStrings:Ledger</c> configured, that server;
/// without it, an embedded cluster that this process starts from the installed PostgreSQL binaries,
/// keeps under <see cref="DefaultDataDirectory"/> (or <c>Ledger:EmbeddedPostgres:DataDirectory</c>)
/// between runs, and stops when the service stops. Resolved on first use, so commands that need
/// no database (minting a token) never start one.
/// </summary>
public sealed class LedgerDatabase(IConfiguration configuration, ILogger<LedgerDatabase> logger) : IDisposable
{
    public const string ConnectionStringKey = "Ledger";
    public const int DefaultEmbeddedPort = 54329;
    private readonly Lock _gate = new();
    private string? _connectionString;
    private LocalPostgresCluster? _embedded;

    public static string DefaultDataDirectory =>
        Environment.UserName == "root"
            ? "/var/lib/compensation-ledger/postgres"
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "share", "compensation-ledger", "postgres");

    public bool IsEmbedded => _embedded is not null;

    public string ConnectionString
    {
        get
        {
            lock (_gate)
            {
                return _connectionString ??= Resolve();
            }
        }
    }

    private string Resolve()
    {
        var configured = configuration.GetConnectionString(ConnectionStringKey);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            NpgsqlConnectionStringBuilder parsed;
            try
            {
                parsed = new NpgsqlConnectionStringBuilder(configured);
            }
            catch (ArgumentException e)
            {
                throw new LedgerDatabaseUnavailableException(
                    $"ConnectionStrings:Ledger is not a valid PostgreSQL connection string ({e.Message}): fix it, or remove it to use the embedded PostgreSQL.", e);
            }
            var lz4 = Connect(configured, $"PostgreSQL at {parsed.Host}:{parsed.Port}/{parsed.Database}");
            logger.LogInformation("Using the PostgreSQL configured in ConnectionStrings:Ledger ({Host}:{Port}/{Database})", parsed.Host, parsed.Port, parsed.Database);
            return WithCompression(configured, lz4);
        }

        var dataDirectory = configuration["Ledger:EmbeddedPostgres:DataDirectory"] is { Length: > 0 } dir ? dir : DefaultDataDirectory;
        var port = configuration.GetValue("Ledger:EmbeddedPostgres:Port", DefaultEmbeddedPort);
        logger.LogInformation("No ConnectionStrings:Ledger configured: starting the embedded PostgreSQL (data in {DataDirectory}, port {Port})", dataDirectory, port);
        try
        {
            _embedded = LocalPostgresCluster.StartPersistent(dataDirectory, port);
            _embedded.EnsureDatabaseAsync("ledger").GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not LedgerDatabaseUnavailableException)
        {
            throw new LedgerDatabaseUnavailableException(
                $"The embedded PostgreSQL in {dataDirectory} could not start ({e.Message}): set ConnectionStrings__Ledger to a PostgreSQL server, or install PostgreSQL with 'apt-get install postgresql'.", e);
        }
        catch (LedgerDatabaseUnavailableException e)
        {
            throw new LedgerDatabaseUnavailableException(
                $"The embedded PostgreSQL in {dataDirectory} could not start: set ConnectionStrings__Ledger to a PostgreSQL server, or install PostgreSQL with 'apt-get install postgresql' ({e.Message}).", e);
        }
        if (_embedded.Adopted)
            logger.LogInformation("Embedded PostgreSQL in {DataDirectory} on 127.0.0.1:{Port} was already running (another process started it); using it and leaving it running",
                _embedded.DataDirectory, _embedded.Port);
        else
            logger.LogInformation("Embedded PostgreSQL {Version} is running from {Bin} with data in {DataDirectory} on 127.0.0.1:{Port}; it stops when the service stops",
                Path.GetFileName(Path.GetDirectoryName(_embedded.BinDirectory)), _embedded.BinDirectory, _embedded.DataDirectory, _embedded.Port);
        var embedded = _embedded.ConnectionString("ledger");
        return WithCompression(embedded, Connect(embedded, $"the embedded PostgreSQL in {_embedded.DataDirectory}"));
    }

    /// <summary>
    /// The session setting the service's connections start with where the connection string sets none (<c>Options</c>): large values
    /// (a claim's snapshot, 2-3 kB of JSON; a fund's, tens of MB) are compressed with LZ4 instead of PostgreSQL's default pglz when
    /// they are stored out of line or compressed in place (TOAST). pglz was the largest single function of PostgreSQL's CPU in a
    /// rebuild (5 % of all the machine's CPU) and compresses a fund snapshot on every write; LZ4 compresses the ledger's JSON to about
    /// the same size (the claim table was 422 MB either way) several times faster, and decompresses faster too (issue #7, PROFILING.md).
    /// Values already stored keep their method; reading either needs nothing. Only where the server has LZ4 (PostgreSQL 14 and later,
    /// built with it, as the Debian, Docker and cloud builds are); elsewhere, and where the connection string sets Options itself,
    /// the connection string is used as it is.
    /// </summary>
    public const string CompressionOption = "-c default_toast_compression=lz4";

    /// <summary>Whether the server can compress with LZ4 (one boolean), as <see cref="Connect"/> asks it.</summary>
    public const string HasLz4Sql = "select coalesce((select 'lz4' = any(enumvals) from pg_settings where name = 'default_toast_compression'), false)";

    /// <summary>
    /// <paramref name="connectionString"/> with <see cref="CompressionOption"/> where the server has LZ4 (<paramref name="lz4"/>, from
    /// <see cref="Connect"/>) and the connection string sets no Options of its own; else as it is.
    /// </summary>
    private string WithCompression(string connectionString, bool lz4)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!string.IsNullOrEmpty(builder.Options)) return connectionString;
        if (!lz4)
        {
            logger.LogInformation("PostgreSQL has no LZ4 compression; large values are compressed with its default (pglz)");
            return connectionString;
        }
        builder.Options = CompressionOption;
        return builder.ConnectionString;
    }

    /// <summary>
    /// Connects once to check the server answers (a clear sentence saying what to do when it does not) and asks it whether it has
    /// LZ4 compression (<see cref="CompressionOption"/>).
    /// </summary>
    private static bool Connect(string connectionString, string description)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 5, Pooling = false };
        try
        {
            using var connection = new NpgsqlConnection(builder.ConnectionString);
            connection.Open();
            using var probe = new NpgsqlCommand(HasLz4Sql, connection);
            return probe.ExecuteScalar() is true;
        }
        catch (Exception e) when (e is NpgsqlException or System.Net.Sockets.SocketException or InvalidOperationException or TimeoutException)
        {
            throw new LedgerDatabaseUnavailableException(
                $"Cannot connect to {description} ({e.Message}): start that server or correct ConnectionStrings__Ledger, or remove it to use the embedded PostgreSQL.", e);
        }
    }

    public void Dispose()
    {
        if (_embedded is null) return;
        if (!_embedded.Adopted) logger.LogInformation("Stopping the embedded PostgreSQL in {DataDirectory}", _embedded.DataDirectory);
        _embedded.Dispose();
        _embedded = null;
    }
}
