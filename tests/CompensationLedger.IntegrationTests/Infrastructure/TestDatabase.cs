using CompensationLedger.Infrastructure;
using DotNet.Testcontainers.Builders;
using Npgsql;
using Testcontainers.PostgreSql;

namespace CompensationLedger.IntegrationTests.Infrastructure;

/// <summary>
/// A PostgreSQL server for the test run, in this order of preference:
/// the server named by LEDGER_TEST_POSTGRES (the tests create and drop their own databases there),
/// a Testcontainers PostgreSQL when Docker answers, or a throwaway cluster started from the
/// installed PostgreSQL binaries and removed afterwards.
/// </summary>
public sealed class TestDatabaseServer : IAsyncDisposable
{
    public const string EnvironmentVariable = "LEDGER_TEST_POSTGRES";
    private readonly string _serverConnectionString;
    private readonly IAsyncDisposable? _owned;
    private readonly List<string> _databases = [];

    private TestDatabaseServer(string serverConnectionString, IAsyncDisposable? owned, string description)
    {
        _serverConnectionString = serverConnectionString;
        _owned = owned;
        Description = description;
    }

    public string Description { get; }

    public static async Task<TestDatabaseServer> StartAsync()
    {
        var configured = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(configured))
            return new TestDatabaseServer(configured, null, $"{EnvironmentVariable}");

        try
        {
            var container = new PostgreSqlBuilder("postgres:15-alpine").Build();
            await container.StartAsync();
            return new TestDatabaseServer(container.GetConnectionString(), container, "Testcontainers PostgreSQL");
        }
        catch (Exception e) when (e is DockerUnavailableException or TimeoutException or HttpRequestException or InvalidOperationException or ArgumentException)
        {
            // No Docker engine on this machine: fall through to the installed binaries.
        }

        var cluster = LocalPostgresCluster.StartThrowaway();
        return new TestDatabaseServer(cluster.ConnectionString("postgres"), cluster, $"throwaway cluster in {cluster.DataDirectory}");
    }

    /// <summary>Creates a fresh, empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 13, 60)].ToLowerInvariant();
        await using (var connection = new NpgsqlConnection(_serverConnectionString))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"create database \"{name}\"", connection);
            await create.ExecuteNonQueryAsync();
        }
        _databases.Add(name);
        return new NpgsqlConnectionStringBuilder(_serverConnectionString) { Database = name, MaxPoolSize = 60 }.ConnectionString;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_owned is not null)
        {
            await _owned.DisposeAsync();
            return;
        }
        // On a shared server, leave nothing behind.
        await using var connection = new NpgsqlConnection(_serverConnectionString);
        await connection.OpenAsync();
        foreach (var name in _databases)
        {
            await using var drop = new NpgsqlCommand($"drop database if exists \"{name}\" with (force)", connection);
            await drop.ExecuteNonQueryAsync();
        }
    }
}
