using System.Diagnostics;
using System.Text;
using CompensationLedger.Infrastructure;

namespace CompensationLedger.IntegrationTests.Browser;

/// <summary>
/// The service as a separate process on a real port (a browser needs real HTTP), with its own
/// database on the test run's PostgreSQL server. Started from the build output next to the tests.
/// </summary>
public sealed class RunningService : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private RunningService(Process process, Uri baseAddress)
    {
        _process = process;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public int ProcessId => _process.Id;

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    public static async Task<RunningService> StartAsync(string connectionString, string signingKey, string issuer,
        IReadOnlyDictionary<string, string>? settings = null)
    {
        var port = LocalPostgresCluster.FreePort();
        var dll = Path.Combine(AppContext.BaseDirectory, "CompensationLedger.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll },
            WorkingDirectory = AppContext.BaseDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            Environment =
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Testing",
                ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
                ["ConnectionStrings__Ledger"] = connectionString,
                ["Auth__SigningKey"] = signingKey,
                ["Auth__Issuer"] = issuer,
                ["Ledger__SeedDemo"] = "false",
            },
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>()) start.Environment[key] = value;
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the service.");
        var service = new RunningService(process, new Uri($"http://127.0.0.1:{port}"));
        process.OutputDataReceived += (_, e) => service.Append(e.Data);
        process.ErrorDataReceived += (_, e) => service.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var http = new HttpClient { BaseAddress = service.BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (process.HasExited) throw new InvalidOperationException($"The service exited ({process.ExitCode}):\n{service.Output}");
            try
            {
                if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode) return service;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(250);
        }
        await service.DisposeAsync();
        throw new TimeoutException($"The service did not become ready in 60 s:\n{service.Output}");
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
