using Marten;

namespace CompensationLedger.Reports;

/// <summary>
/// Outside Production, where Marten creates new tables itself on start instead of the migrations: fills the payout register's day
/// totals (<see cref="FundReportProjection.PayoutDaysTable"/>) when the table is empty and payouts exist, as <c>migrations/0014</c>
/// does in Production. Without it a database from before the table (the embedded quick start's data directory is kept) would show
/// register totals without the payouts issued before, while the lines list them.
/// </summary>
public sealed class PayoutDaysFillOnStart(IDocumentStore store, ILogger<PayoutDaysFillOnStart> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var schema = store.Options.DatabaseSchemaName;
        await using var session = store.QuerySession();
        var empty = await session.QueryAsync<bool>(
            $"select not exists (select 1 from {schema}.{FundReportProjection.PayoutDaysTable}) and exists (select 1 from {schema}.{FundReportProjection.PayoutsTable})",
            cancellationToken);
        if (!empty[0]) return;
        await using var writer = store.LightweightSession();
        writer.QueueSqlCommand(FundReportProjection.PayoutDaysSql(schema, null));
        await writer.SaveChangesAsync(cancellationToken);
        logger.LogInformation("Filled the payout register's day totals from the payouts already recorded (a database from before them)");
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
