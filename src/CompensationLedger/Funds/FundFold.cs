using System.Collections.Immutable;

namespace CompensationLedger.Funds;

/// <summary>
/// What each fund event does to the fund, written once: a fold over builders of the fund's immutable collections.
/// <see cref="Fund"/>'s <c>Apply</c> methods (Marten's aggregator, one event at a time) and <see cref="Fund.Fold(Fund?, IEnumerable{object})"/>
/// (many at once: a decision's events, the rebuild's stream) both go through it, so they cannot disagree.
/// </summary>
/// <remarks>
/// Why builders (issue #7): a fund's snapshot holds every entitlement and payout, tens of thousands each. An immutable
/// <c>SetItem</c> copies the path from the tree's root to the entry, per event, and the copies outlive gen 0 because the fund
/// does. A builder copies a branch the first time it changes and then changes it in place, until <see cref="ToFund"/> freezes
/// it; one event at a time costs what <c>SetItem</c> did, many at once share the copies.
/// </remarks>
internal sealed class FundFold
{
    private Fund fund; // everything but the collections below, which are current only in ToFund
    // Builders made on first change: one event (Marten's aggregator applies them one by one) touches one or two collections.
    private ImmutableDictionary<Guid, Pool>.Builder? pools;
    private ImmutableDictionary<string, RecordedDeposit>.Builder? deposits;
    private ImmutableDictionary<Guid, Entitlement>.Builder? entitlements;
    private ImmutableDictionary<Guid, Round>.Builder? rounds;
    private ImmutableDictionary<Guid, Payout>.Builder? payouts;
    private ImmutableSortedSet<string>.Builder? statementIds;

    private FundFold(Fund fund) => this.fund = fund;

    private ImmutableDictionary<Guid, Pool>.Builder Pools => pools ??= fund.Pools.ToBuilder();
    private ImmutableDictionary<string, RecordedDeposit>.Builder Deposits => deposits ??= fund.DepositsByBankReference.ToBuilder();
    private ImmutableDictionary<Guid, Entitlement>.Builder Entitlements => entitlements ??= fund.Entitlements.ToBuilder();
    private ImmutableDictionary<Guid, Round>.Builder Rounds => rounds ??= fund.Rounds.ToBuilder();
    private ImmutableDictionary<Guid, Payout>.Builder Payouts => payouts ??= fund.Payouts.ToBuilder();
    private ImmutableSortedSet<string>.Builder StatementIds => statementIds ??= fund.StatementIds.ToBuilder();

    /// <summary>The events folded onto the fund (null before its first event), the version one more per event.</summary>
    public static Fund? Fold(Fund? fund, IEnumerable<object> events)
    {
        FundFold? fold = null;
        var count = 0;
        foreach (var e in events)
        {
            if (fold is null)
            {
                if (fund is null)
                {
                    fund = e is FundEstablished established
                        ? Fund.Create(established) with { Version = 0 }
                        : throw new ArgumentException($"A fund's first event is {nameof(FundEstablished)}, not {e.GetType().Name}.", nameof(events));
                    count++;
                    continue;
                }
                fold = new FundFold(fund);
            }
            fold.Apply(e);
            count++;
        }
        if (fund is null) return null;
        var folded = fold?.ToFund() ?? fund;
        return folded with { Version = folded.Version + count };
    }

    /// <summary>One event applied to the fund, its version unchanged (Marten's aggregator sets it).</summary>
    public static Fund Applying(Fund fund, object e)
    {
        var fold = new FundFold(fund);
        fold.Apply(e);
        return fold.ToFund();
    }

    private Fund ToFund() => fund with
    {
        Pools = pools?.ToImmutable() ?? fund.Pools,
        DepositsByBankReference = deposits?.ToImmutable() ?? fund.DepositsByBankReference,
        Entitlements = entitlements?.ToImmutable() ?? fund.Entitlements,
        Rounds = rounds?.ToImmutable() ?? fund.Rounds,
        Payouts = payouts?.ToImmutable() ?? fund.Payouts,
        StatementIds = statementIds?.ToImmutable() ?? fund.StatementIds,
    };

    private void Apply(object e)
    {
        switch (e)
        {
            case FundEstablished:
                throw new ArgumentException($"{nameof(FundEstablished)} begins a fund's stream; this fund is established already.", nameof(e));
            case PolicyVersionAdded x:
                fund = fund with { Policies = [.. fund.Policies, x.Policy] };
                break;
            case FundCoversCase x:
                fund = fund with { CoveredCases = [.. fund.CoveredCases, x.CaseId] };
                break;
            case PoolOpened x:
                Pools.Add(x.PoolId, new Pool(x.PoolId, Pools.Count + 1, x.Kind, x.Name, x.Perpetrator, 0m, 0m, 0m, 0m, 0m));
                break;
            case PoolDeposited x:
                Pool(x.PoolId, p => p with { Deposited = p.Deposited + x.Amount.Amount });
                Deposits[x.BankReference] = new RecordedDeposit(x.PoolId, x.Amount.Amount);
                break;
            case EntitlementRecorded x:
                // A later decision on the same claim (an appeal) changes what it is owed, not what is committed to it.
                Entitlements[x.ClaimId] = Entitlements.TryGetValue(x.ClaimId, out var before)
                    ? before with { Amount = x.Amount.Amount, BuyerKey = before.BuyerKey ?? x.BuyerKey }
                    : new Entitlement(x.ClaimId, x.ClaimReference, x.CaseId, x.Platform, x.SupplierAccountId, x.BuyerCountry, x.Amount.Amount, 0m, 0m, 0m, x.BuyerKey);
                break;
            case RoundPrepared x:
                Rounds.Add(x.RoundId, new Round(x.RoundId, x.Number, RoundStatus.Prepared, x.PolicyVersion, x.Allocations, x.Carried, [], x.PreparedBy, x.PreparedAt, null, null));
                foreach (var a in x.Allocations)
                {
                    Pool(a.PoolId, p => p with { Allocated = p.Allocated + a.Amount.Amount });
                    Claim(a.ClaimId, c => c with { Allocated = c.Allocated + a.Amount.Amount });
                }
                break;
            case RoundCancelled x:
                Rounds[x.RoundId] = Rounds[x.RoundId] with { Status = RoundStatus.Cancelled };
                foreach (var a in x.Allocations)
                {
                    Pool(a.PoolId, p => p with { Allocated = p.Allocated - a.Amount.Amount });
                    Claim(a.ClaimId, c => c with { Allocated = c.Allocated - a.Amount.Amount });
                }
                break;
            case RoundReleased x:
                var released = x.Payouts.SelectMany(PayoutLines.Of).ToList();
                Rounds[x.RoundId] = Rounds[x.RoundId] with
                {
                    Status = RoundStatus.Released, ReleasedBy = x.ReleasedBy, ReleasedAt = x.ReleasedAt, PayoutIds = x.Payouts.Select(p => p.PayoutId).ToArray(),
                    Allocations = [], ReleasedTotal = Fund.Normalised(released.Sum(l => l.Amount.Amount)), ReleasedAllocations = released.Count,
                };
                foreach (var l in released)
                {
                    Pool(l.PoolId, p => p with { Allocated = p.Allocated - l.Amount.Amount, InTransit = p.InTransit + l.Amount.Amount });
                    Claim(l.ClaimId, c => c with { Allocated = c.Allocated - l.Amount.Amount, InTransit = c.InTransit + l.Amount.Amount });
                }
                foreach (var p in x.Payouts) Payouts.Add(p.PayoutId, Funds.Payout.Issued(x, p));
                break;
            case PayoutSettled x:
                Payout(x.PayoutId, p => p with { Status = PayoutStatus.Settled, SettledAt = x.SettledAt });
                foreach (var l in x.Lines) Pool(l.PoolId, p => p with { InTransit = p.InTransit - l.Amount.Amount, Settled = p.Settled + l.Amount.Amount });
                foreach (var l in PayoutLines.Of(x)) Claim(l.ClaimId, c => c with { InTransit = c.InTransit - l.Amount.Amount, Settled = c.Settled + l.Amount.Amount });
                break;
            case PayoutReturned x:
                Payout(x.PayoutId, p => p with { Status = PayoutStatus.Returned, ReturnedAt = x.ReturnedAt, ReturnReason = x.Reason });
                foreach (var l in x.Lines) Pool(l.PoolId, p => p with { InTransit = p.InTransit - l.Amount.Amount, Returned = p.Returned + l.Amount.Amount });
                foreach (var l in PayoutLines.Of(x)) Claim(l.ClaimId, c => c with { InTransit = c.InTransit - l.Amount.Amount });
                break;
            case PayoutReissuePrepared x:
                Payout(x.PayoutId, p => p with { PendingReissue = new PendingReissue(x.BankDetails, x.PreparedBy, x.PreparedAt) });
                break;
            case PayoutReissueWithdrawn x:
                Payout(x.PayoutId, p => p with { PendingReissue = null });
                break;
            case PayoutReissued x:
                // The new payout is in its original's round: a fund that does not hold the original (read from its snapshot, the
                // decision not about it) does not hold the new one either.
                if (Payout(x.OriginalPayoutId, p => p with { ReissuedAs = x.PayoutId, PendingReissue = null }) is { } original)
                    Payouts.Add(x.PayoutId, Funds.Payout.Issued(x, original.RoundId));
                foreach (var l in x.Lines) Pool(l.PoolId, p => p with { InTransit = p.InTransit + l.Amount.Amount });
                foreach (var l in PayoutLines.Of(x)) Claim(l.ClaimId, c => c with { InTransit = c.InTransit + l.Amount.Amount });
                break;
            case BankStatementImported x:
                // The statement is known by its id only (see Fund.Apply(BankStatementImported)).
                StatementIds.Add(x.StatementId);
                break;
            default:
                throw new ArgumentException($"Not a fund event: {e.GetType().Name}", nameof(e));
        }
    }

    private void Pool(Guid id, Func<Pool, Pool> change) => Pools[id] = change(Pools[id]);

    /// <summary>
    /// Changes the claim's entitlement; nothing when the fund does not hold it and need not (<see cref="Fund.Complete"/>: read from
    /// its snapshot, which keeps none). A complete fund without it is a broken stream.
    /// </summary>
    private void Claim(Guid id, Func<Entitlement, Entitlement> change)
    {
        if (Entitlements.TryGetValue(id, out var entitlement)) Entitlements[id] = change(entitlement);
        else if (fund.Complete) throw new KeyNotFoundException($"Claim {id} has no entitlement in fund {fund.Id}'s events before this one.");
    }

    /// <summary>
    /// The payout changed, and as changed; null when the fund does not hold it and need not (<see cref="Fund.Complete"/>: read from its
    /// snapshot, which keeps no payouts). A complete fund without it is a broken stream.
    /// </summary>
    private Payout? Payout(Guid id, Func<Payout, Payout> change)
    {
        if (!Payouts.TryGetValue(id, out var payout))
            return fund.Complete ? throw new KeyNotFoundException($"Payout {id} is not in fund {fund.Id}'s events before this one.") : null;
        return Payouts[id] = change(payout);
    }
}
