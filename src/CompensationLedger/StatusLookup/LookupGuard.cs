using System.Collections.Concurrent;
using NodaTime;

namespace CompensationLedger.StatusLookup;

/// <summary>Limits on buyers' lookups (section <c>Ledger:StatusLookup</c>).</summary>
public sealed class LookupLimits
{
    /// <summary>Lookups one client address may make per minute, right or wrong.</summary>
    public int PerClientPerMinute { get; init; } = 20;

    /// <summary>Failed lookups on one reference before each further try must wait.</summary>
    public int FreeFailuresPerReference { get; init; } = 5;

    /// <summary>The wait after the first failure beyond the free ones; it doubles with each further failure.</summary>
    public int FirstBackoffSeconds { get; init; } = 30;

    /// <summary>The longest wait, and how long failures are remembered.</summary>
    public int MaxBackoffMinutes { get; init; } = 60;
}

/// <summary>
/// Guards the buyer lookup against guessing: a budget of lookups per client address per minute,
/// and, per claim reference, failures that make every further try wait longer (30 s, 60 s, 2 min,
/// ... up to an hour) whether the reference exists or not, so the limit says nothing about which
/// references are real. Counts are kept in this process's memory, against the ledger's clock: with
/// several instances behind a load balancer each keeps its own counts (make the balancer sticky per
/// client, or lower the limits accordingly).
/// </summary>
public sealed class LookupGuard(IClock clock, LookupLimits limits)
{
    private readonly ConcurrentDictionary<string, Queue<Instant>> _clients = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Failures> _references = new(StringComparer.Ordinal);

    private sealed record Failures(int Count, Instant Last);

    /// <summary>Null when the lookup may go ahead; otherwise how long the caller must wait.</summary>
    public Duration? Admit(string clientAddress, string reference)
    {
        var now = clock.GetCurrentInstant();
        var window = _clients.GetOrAdd(clientAddress, _ => new Queue<Instant>());
        lock (window)
        {
            while (window.Count > 0 && window.Peek() <= now - Duration.FromMinutes(1)) window.Dequeue();
            if (window.Count >= limits.PerClientPerMinute)
                return window.Peek() + Duration.FromMinutes(1) - now;
            window.Enqueue(now);
        }

        if (_references.TryGetValue(Key(reference), out var failures))
        {
            if (now - failures.Last > Duration.FromMinutes(limits.MaxBackoffMinutes))
            {
                _references.TryRemove(Key(reference), out _);
            }
            else if (failures.Count >= limits.FreeFailuresPerReference)
            {
                var wait = Backoff(failures.Count - limits.FreeFailuresPerReference);
                var until = failures.Last + wait;
                if (until > now) return until - now;
            }
        }
        return null;
    }

    public void Failed(string reference) =>
        _references.AddOrUpdate(Key(reference), _ => new Failures(1, clock.GetCurrentInstant()), (_, f) => new Failures(f.Count + 1, clock.GetCurrentInstant()));

    public void Succeeded(string reference) => _references.TryRemove(Key(reference), out _);

    /// <summary>Forgets everything (tests start each case with a clean slate).</summary>
    public void Reset()
    {
        _clients.Clear();
        _references.Clear();
    }

    private Duration Backoff(int beyondFree)
    {
        var seconds = (long)limits.FirstBackoffSeconds << Math.Min(beyondFree, 20);
        return Duration.FromSeconds(Math.Min(seconds, limits.MaxBackoffMinutes * 60L));
    }

    private static string Key(string reference) => reference.Trim().ToUpperInvariant();
}
