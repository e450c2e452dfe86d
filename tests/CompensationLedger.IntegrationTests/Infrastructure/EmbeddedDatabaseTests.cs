using CompensationLedger.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CompensationLedger.IntegrationTests.Infrastructure;

/// <summary>The embedded default: a cluster the service owns, kept between runs, stopped with the service; and a clear sentence when there is no database.</summary>
public sealed class EmbeddedDatabaseTests
{
    private static LedgerDatabase Database(Dictionary<string, string?> settings) =>
        new(new ConfigurationBuilder().AddInMemoryCollection(settings).Build(), NullLogger<LedgerDatabase>.Instance);

    [Fact]
    public void without_a_connection_string_the_service_starts_its_own_cluster_and_keeps_its_data_between_runs()
    {
        var folder = Path.Combine(Path.GetTempPath(), "ledger-embedded-" + Guid.NewGuid().ToString("N")[..8]);
        var settings = new Dictionary<string, string?>
        {
            ["Ledger:EmbeddedPostgres:DataDirectory"] = folder,
            ["Ledger:EmbeddedPostgres:Port"] = LocalPostgresCluster.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        try
        {
            using (var first = Database(settings))
            {
                Execute(first.ConnectionString, "create table kept (value text); insert into kept values ('still here')");
                first.IsEmbedded.ShouldBeTrue();
            }

            // Stopped with the service: nothing answers until the next run starts it again.
            Should.Throw<NpgsqlException>(() => Execute(new NpgsqlConnectionStringBuilder(Database(settings).ConnectionStringWithoutStarting(folder, settings)) { Timeout = 2 }.ConnectionString, "select 1"));

            using var second = Database(settings);
            Scalar(second.ConnectionString, "select value from kept").ShouldBe("still here");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void an_unreachable_configured_server_fails_with_one_sentence_saying_what_to_do()
    {
        var database = Database(new Dictionary<string, string?> { ["ConnectionStrings:Ledger"] = "Host=127.0.0.1;Port=1;Username=x;Database=ledger" });

        var failure = Should.Throw<LedgerDatabaseUnavailableException>(() => database.ConnectionString);

        failure.Message.ShouldContain("ConnectionStrings__Ledger");
        StartupFailure.Explain(new InvalidOperationException("host failed", failure)).ShouldBe(failure.Message);
    }

    [Fact]
    public void a_malformed_connection_string_fails_clearly() =>
        Should.Throw<LedgerDatabaseUnavailableException>(() => Database(new Dictionary<string, string?> { ["ConnectionStrings:Ledger"] = "nonsense=1" }).ConnectionString)
            .Message.ShouldContain("not a valid PostgreSQL connection string");

    private static void Execute(string connectionString, string sql)
    {
        using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    private static object? Scalar(string connectionString, string sql)
    {
        using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        return command.ExecuteScalar();
    }
}

internal static class LedgerDatabaseTestExtensions
{
    /// <summary>The embedded cluster's connection string, computed without starting it.</summary>
    public static string ConnectionStringWithoutStarting(this LedgerDatabase _, string folder, Dictionary<string, string?> settings) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = int.Parse(settings["Ledger:EmbeddedPostgres:Port"]!, System.Globalization.CultureInfo.InvariantCulture),
            Username = "postgres",
            Database = "ledger",
            Pooling = false,
        }.ConnectionString;
}
