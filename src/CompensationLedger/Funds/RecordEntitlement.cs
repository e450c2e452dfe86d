using CompensationLedger.Cases;
using CompensationLedger.Infrastructure;
using Marten;
using NodaTime;
using Wolverine;
using Wolverine.ErrorHandling;
using Wolverine.Runtime.Handlers;

namespace CompensationLedger.Funds;

/// <summary>
/// THE SEAM TO CLAIMS. An approved claim is owed <see cref="Amount"/> (already in the fund's
/// currency) by fund <see cref="FundId"/>. The claims feature sends this (a cascading message from
/// its ClaimApproved handler, or <c>IMessageBus.InvokeAsync</c>) once per approval; sending it again
/// with the same amount changes nothing, and a later decision (an appeal) may raise or lower the
/// amount, never below what is already committed to the claim. <see cref="BuyerKey"/> is the buyer's pseudonymous key
/// (a hash, <see cref="Claims.ClaimFingerprints.BuyerKey"/>): a round pays all of one buyer's claims in one payout. No HTTP endpoint exposes it: only an
/// approval may create what the fund owes. Handled in batches (<see cref="RecordEntitlementHandler.Handle"/>); tests
/// invoke a batch of one (<c>InvokeAsync(new[] { command })</c>), the demo calls the pure decision.
/// </summary>
public sealed record RecordEntitlement(
    Guid FundId,
    Guid ClaimId,
    string ClaimReference,
    Guid CaseId,
    string Platform,
    string SupplierAccountId,
    string BuyerCountry,
    Money Amount,
    string RecordedBy,
    string? BuyerKey = null);

/// <summary>The fund would not record an entitlement (unknown fund, wrong currency, below what is committed).</summary>
public sealed class EntitlementRefusedException(Refusal refusal) : InvalidOperationException($"{refusal.Code}: {refusal.Detail}")
{
    public Refusal Refusal { get; } = refusal;
}

public static class RecordEntitlementHandler
{
    public static Decision Decide(Fund fund, RecordEntitlement command, Instant now)
    {
        if (command.Amount.Currency != fund.Currency || !Currencies.IsKnown(command.Amount.Currency) || Money.Scale(command.Amount.Amount) > fund.MinorUnits)
            return Decision.Refuse("currency-mismatch", $"An entitlement is in the fund's currency, {fund.Currency}, to its minor unit; got {command.Amount}.");
        if (command.Amount.Amount <= 0m)
            return Decision.Refuse("entitlement-not-positive", "An entitlement is more than zero.");
        if (string.IsNullOrWhiteSpace(command.ClaimReference) || string.IsNullOrWhiteSpace(command.Platform) || string.IsNullOrWhiteSpace(command.SupplierAccountId))
            return Decision.Refuse("entitlement-incomplete", "An entitlement names the claim reference, platform and supplier account.");
        if (fund.Entitlements.TryGetValue(command.ClaimId, out var existing))
        {
            if (existing.Amount == command.Amount.Amount && (existing.BuyerKey is not null || command.BuyerKey is null)) return Decision.Accept();
            if (command.Amount.Amount < existing.Committed)
                return Decision.Refuse("entitlement-below-committed",
                    $"Claim {existing.ClaimReference} already has {fund.Money(existing.Committed)} allocated or paid; its entitlement cannot fall below that.");
        }
        return Decision.Accept(new EntitlementRecorded(fund.Id, command.ClaimId, command.ClaimReference.Trim(), command.CaseId, command.Platform.Trim(),
            AccountNumbers.NormaliseSupplierAccount(command.SupplierAccountId), command.BuyerCountry.Trim().ToUpperInvariant(), command.Amount,
            command.RecordedBy, now, string.IsNullOrWhiteSpace(command.BuyerKey) ? null : command.BuyerKey));
    }

    /// <summary>
    /// Approvals arrive together (and contend with rounds) on one fund stream: a lost race is retried,
    /// many times with short growing pauses, since with N at once the last may lose N-1 times; then, still
    /// losing, it is scheduled again (durably) with longer pauses instead of being dead-lettered, since an
    /// approval that never reaches the fund is a buyer never paid. Every way a lost race shows itself counts:
    /// a version conflict, a locked stream (not a ConcurrencyException), a serialization failure or deadlock.
    /// Only a refusal (a decision, not a race) dead-letters a message.
    /// </summary>
    public static void Configure(HandlerChain chain) =>
        chain.OnException<JasperFx.ConcurrencyException>()
            .Or<Marten.Exceptions.ConcurrentUpdateException>()
            .Or<JasperFx.Events.StreamLockedException>()
            .Or<Marten.Exceptions.StreamLockedException>()
            .Or<Npgsql.PostgresException>(e => e.SqlState is Npgsql.PostgresErrorCodes.SerializationFailure or Npgsql.PostgresErrorCodes.DeadlockDetected)
            .RetryWithCooldown(Enumerable.Range(1, 24).Select(i => TimeSpan.FromMilliseconds(Math.Min(10 * i, 200))).ToArray())
            .Then.ScheduleRetry(Enumerable.Range(1, 20).Select(i => TimeSpan.FromSeconds(Math.Min(i * i, 300))).ToArray());

    /// <summary>
    /// Records a batch of entitlements (Wolverine batches the RecordEntitlement messages of the durable
    /// local queue, <see cref="Batching"/>): per fund, one FetchForWriting, every decision made in turn on
    /// the state the previous ones left, and one append at the version read, so a batch of N costs one
    /// load and one rewrite of the fund's snapshot instead of N (with N approvals that was O(N^2) JSON).
    /// The money guarantees are those of one command: a concurrent change to the fund fails the whole
    /// batch's transaction, which is retried (<see cref="Configure"/>) and decided again on the new state;
    /// a repeat within or across batches changes nothing. A refused command never holds back the others:
    /// it is sent on alone (<see cref="RecordEntitlementAlone"/>), where its refusal fails and dead-letters
    /// that one message, as before batching. A batch of one refuses by throwing.
    /// </summary>
    public static async Task<OutgoingMessages> Handle(RecordEntitlement[] batch, IDocumentSession session, IClock clock, CancellationToken ct)
    {
        var now = clock.GetCurrentInstant();
        var refused = new List<(RecordEntitlement Command, Refusal Refusal)>();
        foreach (var forFund in batch.GroupBy(c => c.FundId))
        {
            var stream = await session.Events.FetchForWriting<Fund>(forFund.Key, ct);
            if (stream.Aggregate is not { } fund)
            {
                refused.AddRange(forFund.Select(c => (c, NoFund(c))));
                continue;
            }
            // The batch's claims' entitlements from their rows (the snapshot keeps none, FundRows): a repeat or an appeal changes one.
            fund = await FundRows.AtVersionAsync(session, await FundRows.WithEntitlementsOfAsync(session, fund, forFund.Select(c => c.ClaimId).Distinct().ToArray(), ct), stream.CurrentVersion, ct);
            var (events, refusals) = DecideBatch(fund, [.. forFund], now);
            refused.AddRange(refusals);
            if (events.Count > 0) stream.AppendMany(events);
        }
        if (batch.Length == 1 && refused.Count == 1) throw new EntitlementRefusedException(refused[0].Refusal);
        var alone = new OutgoingMessages();
        alone.AddRange(refused.Select(r => new RecordEntitlementAlone(r.Command)));
        return alone;
    }

    /// <summary>
    /// A batch of one fund's entitlements, decided in turn, each on the fund as the ones before it left it (so a repeat
    /// within the batch changes nothing and an appeal's new amount applies after the approval's): the events to append
    /// and the commands refused.
    /// </summary>
    public static (IReadOnlyList<object> Events, IReadOnlyList<(RecordEntitlement Command, Refusal Refusal)> Refused) DecideBatch(
        Fund fund, IReadOnlyList<RecordEntitlement> batch, Instant now)
    {
        var events = new List<object>();
        var refused = new List<(RecordEntitlement, Refusal)>();
        foreach (var command in batch)
        {
            var decision = Decide(fund, command, now);
            if (decision.Refusal is { } refusal)
            {
                refused.Add((command, refusal));
                continue;
            }
            foreach (var e in decision.Events)
            {
                fund = Fund.Fold(fund, e)!;
                events.Add(e);
            }
        }
        return (events, refused);
    }

    private static Refusal NoFund(RecordEntitlement command) =>
        new("fund-not-found", $"There is no fund with id {command.FundId}.", StatusCodes.Status404NotFound);

    /// <summary>
    /// How the RecordEntitlement messages are batched: up to 500 at once, waiting at most 500 ms for more, on a durable queue, one
    /// batch at a time. Two batches at once (the queue's default, one per core) both load the fund, and one loses the race at its
    /// commit after writing the whole snapshot, then retries: sequential, 10,000 approvals reached the fund in 29.5 s instead of
    /// 56.7 s and the service's peak memory fell from 543 to 485 MB (issue #7, PROFILING.md).
    /// <para>
    /// Every batch loads and rewrites the fund's whole snapshot (megabytes at 10,000 claims), so fewer, larger batches cost less:
    /// with 500 ms instead of 100 ms, 10,000 approvals at 8 clients reached the fund at 401-404/s instead of 275-371/s, the approvals
    /// themselves ran at 518-540/s instead of 361-473/s, and the service's peak memory was 332-369 MB instead of 350-387 MB (three
    /// runs each, PROFILING.md). The price: an approval made alone reaches the fund up to half a second later.
    /// </para>
    /// </summary>
    public static void Batching(WolverineOptions opts) =>
        opts.BatchMessagesOf<RecordEntitlement>(batching =>
            {
                batching.BatchSize = 500;
                batching.TriggerTime = TimeSpan.FromMilliseconds(500);
            })
            .UseDurableInbox()
            .Sequential();
}

/// <summary>An entitlement a batch refused, decided again on its own so that its refusal concerns it alone.</summary>
public sealed record RecordEntitlementAlone(RecordEntitlement Command);

public static class RecordEntitlementAloneHandler
{
    public static void Configure(HandlerChain chain) => RecordEntitlementHandler.Configure(chain);

    /// <summary>Decided again on the fund as it is now (the refusal may not hold any more); still refused: the exception dead-letters this message.</summary>
    public static async Task Handle(RecordEntitlementAlone message, IDocumentSession session, IClock clock, CancellationToken ct)
    {
        var command = message.Command;
        var stream = await session.Events.FetchForWriting<Fund>(command.FundId, ct);
        var fund = stream.Aggregate
            ?? throw new EntitlementRefusedException(new Refusal("fund-not-found", $"There is no fund with id {command.FundId}.", StatusCodes.Status404NotFound));
        fund = await FundRows.AtVersionAsync(session, await FundRows.WithEntitlementsOfAsync(session, fund, [command.ClaimId], ct), stream.CurrentVersion, ct);
        var decision = RecordEntitlementHandler.Decide(fund, command, clock.GetCurrentInstant());
        if (decision.Refusal is { } refusal) throw new EntitlementRefusedException(refusal);
        stream.AppendMany(decision.Events);
    }
}
