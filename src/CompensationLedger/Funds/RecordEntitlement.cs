using CompensationLedger.Cases;
using CompensationLedger.Infrastructure;
using Marten;
using NodaTime;
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
/// approval may create what the fund owes. Tests and the demo send it through the message bus.
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
    /// many times with short growing pauses, since with N at once the last may lose N-1 times.
    /// </summary>
    public static void Configure(HandlerChain chain) =>
        chain.OnException<JasperFx.ConcurrencyException>()
            .Or<Marten.Exceptions.ConcurrentUpdateException>()
            .RetryWithCooldown(Enumerable.Range(1, 24).Select(i => TimeSpan.FromMilliseconds(Math.Min(10 * i, 200))).ToArray());

    /// <summary>Appends to the fund's stream at the version read (FetchForWriting): a concurrent change makes this fail and retry.</summary>
    public static async Task Handle(RecordEntitlement command, IDocumentSession session, IClock clock, CancellationToken ct)
    {
        var stream = await session.Events.FetchForWriting<Fund>(command.FundId, ct);
        var fund = stream.Aggregate
            ?? throw new EntitlementRefusedException(new Refusal("fund-not-found", $"There is no fund with id {command.FundId}.", StatusCodes.Status404NotFound));
        var decision = Decide(fund, command, clock.GetCurrentInstant());
        if (decision.Refusal is { } refusal) throw new EntitlementRefusedException(refusal);
        stream.AppendMany(decision.Events);
    }
}
