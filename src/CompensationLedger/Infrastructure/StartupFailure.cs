namespace CompensationLedger.Infrastructure;

/// <summary>Turns the ways the service can fail to start into one sentence on what to do.</summary>
public static class StartupFailure
{
    public static string? Explain(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is LedgerDatabaseUnavailableException) return e.Message;
            if (e is InvalidOperationException && e.Message.StartsWith("Auth:SigningKey", StringComparison.Ordinal)) return e.Message;
        }
        if (exception is AggregateException aggregate) return aggregate.InnerExceptions.Select(Explain).FirstOrDefault(s => s is not null);
        return null;
    }
}
