using CompensationLedger.Infrastructure;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace CompensationLedger.IntegrationTests.Infrastructure;

/// <summary>
/// Large values (claim and fund snapshots) are compressed with LZ4 where the server has it: the service's connections start with
/// <see cref="LedgerDatabase.CompressionOption"/> unless the connection string sets its own Options (issue #7).
/// </summary>
public sealed class CompressionTests(LedgerApp app) : IntegrationTest(app)
{
    private LedgerDatabase Configured(string connectionString) =>
        new(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:Ledger"] = connectionString }).Build(),
            NullLogger<LedgerDatabase>.Instance);

    [Fact]
    public async Task the_service_stores_large_values_compressed_with_lz4()
    {
        await using var connection = (NpgsqlConnection)App.Store.Storage.Database.CreateConnection();
        await connection.OpenAsync();
        await using (var store = new NpgsqlCommand("""
            create temporary table compressed (data jsonb);
            insert into compressed select jsonb_build_object('evidence', repeat('The case covers Alibaba.com. ', 400));
            """, connection))
            await store.ExecuteNonQueryAsync();
        await using var command = new NpgsqlCommand("select current_setting('default_toast_compression'), pg_column_compression(data) from compressed", connection);
        await using var reader = await command.ExecuteReaderAsync();
        (await reader.ReadAsync()).ShouldBeTrue();
        reader.GetString(0).ShouldBe("lz4");
        reader.GetString(1).ShouldBe("lz4");
    }

    [Fact]
    public void the_option_is_added_to_a_configured_connection_string_without_options()
    {
        using var database = Configured(App.ConnectionString);

        new NpgsqlConnectionStringBuilder(database.ConnectionString).Options.ShouldBe(LedgerDatabase.CompressionOption);
    }

    [Fact]
    public void a_connection_string_that_sets_options_is_used_as_it_is()
    {
        var own = new NpgsqlConnectionStringBuilder(App.ConnectionString) { Options = "-c default_toast_compression=pglz" }.ConnectionString;

        using var database = Configured(own);

        database.ConnectionString.ShouldBe(own);
    }
}
