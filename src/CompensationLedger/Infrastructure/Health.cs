using Marten;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace CompensationLedger.Infrastructure;

/// <summary>Ready means the ledger's database answers a query within a few seconds.</summary>
public sealed class DatabaseHealthCheck(IDocumentStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
            await connection.OpenAsync(timeout.Token);
            await using var command = new NpgsqlCommand("select 1", connection);
            await command.ExecuteScalarAsync(timeout.Token);
            return HealthCheckResult.Healthy("The database answers.");
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException or LedgerDatabaseUnavailableException)
        {
            return HealthCheckResult.Unhealthy("The database does not answer.", e);
        }
    }
}
