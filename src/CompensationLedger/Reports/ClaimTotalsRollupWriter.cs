using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace CompensationLedger.Reports;

/// <summary>
/// Advances <see cref="ClaimTotalsRollup"/> every <c>Ledger:ClaimTotalsRollup:IntervalSeconds</c> (default 2; 0 turns it off), so the
/// tail a "now" report adds to the rollup stays a few seconds of change rows. Reports are exact whether it runs or not (the tail covers
/// what it has not absorbed); only their speed depends on it. Several instances may run it: advances take turns on the checkpoint row.
/// </summary>
public sealed class ClaimTotalsRollupWriter(IDocumentStore store, IConfiguration configuration, ILogger<ClaimTotalsRollupWriter> logger) : BackgroundService
{
    public const string IntervalKey = "Ledger:ClaimTotalsRollup:IntervalSeconds";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var seconds = configuration.GetValue(IntervalKey, 2.0);
        if (seconds <= 0) return;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(seconds));
        try
        {
            do
            {
                try
                {
                    var advance = await ClaimTotalsRollup.AdvanceAsync(store, stoppingToken);
                    if (advance.RollupRows > 0)
                        logger.LogDebug("Paid-vs-lost rollup: horizon {From} -> {To}, {Rows} rollup rows written", advance.From, advance.To, advance.RollupRows);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // Next tick tries again (a deadlock with a rebuild's swap, the database restarting, migrations not applied yet); reports
                    // stay exact meanwhile, the tail only grows.
                    logger.LogWarning(e, "Paid-vs-lost rollup: advancing failed; retrying in {Seconds} s", seconds);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
