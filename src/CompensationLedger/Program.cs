using CompensationLedger.Infrastructure;
using JasperFx;

try
{
    var builder = WebApplication.CreateBuilder(args);
    if (args is [MintToken.Command, .. var options]) return MintToken.Run(options, builder.Configuration);

    // Logs go to standard error so that commands (db-patch, seed-demo) keep standard output for their results.
    builder.Logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
    builder.AddLedger();
    var app = builder.Build();
    app.UseLedger();
    // Rebuilds go through LedgerRebuild: the paid-vs-lost tables are rebuilt beside the live ones, safe while the service runs.
    if (args is [LedgerRebuild.Command, .. var names]) return await LedgerRebuild.RunAsync(app.Services, names, CancellationToken.None);
    if (LedgerRebuild.MartenRebuildNames(args) is { } projections) return await LedgerRebuild.RunAsync(app.Services, projections, CancellationToken.None);
    // Serving (no arguments) runs the host directly: JasperFx's command line loads every assembly in the application's folder to
    // look for commands (Roslyn's, the culture resource satellites, and beside the tests every test dependency), 60 MB of
    // idle resident memory (208 -> 148 MB) for commands a server never runs (issue #7, PROFILING.md). Commands still go through it.
    if (args.Length == 0)
    {
        await app.RunAsync();
        return 0;
    }
    return await app.RunJasperFxCommands(args);
}
catch (Exception e) when (StartupFailure.Explain(e) is { } sentence)
{
    await Console.Error.WriteLineAsync(sentence);
    return 1;
}

/// <summary>The entry point; public so the integration tests can host it.</summary>
public partial class Program;
