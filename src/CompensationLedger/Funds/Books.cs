namespace CompensationLedger.Funds;

/// <summary>One side of a double entry on one pool's account.</summary>
public sealed record Posting(string Account, Guid PoolId, Money Debit, Money Credit);

/// <summary>
/// The fund's double-entry books, derived from its events by a pure function. Every account is
/// kept per pool (and so per currency: a fund has one). The accounts, with their normal side:
/// <list type="bullet">
/// <item><c>contributions</c> (credit): what was deposited into the pool.</item>
/// <item><c>pool-cash</c> (debit): the pool's available money.</item>
/// <item><c>claims-allocated</c> (debit): money set aside for claims by a prepared round.</item>
/// <item><c>payouts-in-transit</c> (debit): payouts released to the bank, not yet settled or returned.</item>
/// <item><c>compensation-paid</c> (debit, expense): payouts the bank settled.</item>
/// </list>
/// Every entry balances, so at any instant contributions = pool-cash + claims-allocated +
/// payouts-in-transit + compensation-paid: deposits = available + allocated + in transit + settled (DOMAIN.md invariant 3).
/// </summary>
public static class Books
{
    public const string Contributions = "contributions";
    public const string PoolCash = "pool-cash";
    public const string ClaimsAllocated = "claims-allocated";
    public const string PayoutsInTransit = "payouts-in-transit";
    public const string CompensationPaid = "compensation-paid";

    public static readonly IReadOnlyList<string> Accounts = [Contributions, PoolCash, ClaimsAllocated, PayoutsInTransit, CompensationPaid];

    /// <summary>The postings one event makes; empty for events that move no money.</summary>
    public static IReadOnlyList<Posting> PostingsFor(object e) => e switch
    {
        PoolDeposited d => Entry(d.PoolId, d.Amount, debit: PoolCash, credit: Contributions),
        RoundPrepared r => [.. r.Allocations.SelectMany(a => Entry(a.PoolId, a.Amount, debit: ClaimsAllocated, credit: PoolCash))],
        RoundCancelled c => [.. c.Allocations.SelectMany(a => Entry(a.PoolId, a.Amount, debit: PoolCash, credit: ClaimsAllocated))],
        RoundReleased r => [.. r.Payouts.SelectMany(p => p.Lines).SelectMany(l => Entry(l.PoolId, l.Amount, debit: PayoutsInTransit, credit: ClaimsAllocated))],
        PayoutSettled s => [.. s.Lines.SelectMany(l => Entry(l.PoolId, l.Amount, debit: CompensationPaid, credit: PayoutsInTransit))],
        PayoutReturned r => [.. r.Lines.SelectMany(l => Entry(l.PoolId, l.Amount, debit: PoolCash, credit: PayoutsInTransit))],
        PayoutReissued r => [.. r.Lines.SelectMany(l => Entry(l.PoolId, l.Amount, debit: PayoutsInTransit, credit: PoolCash))],
        _ => [],
    };

    /// <summary>Debit-minus-credit balance of every (pool, account) the postings touch.</summary>
    public static IReadOnlyDictionary<(Guid PoolId, string Account), decimal> Balances(IEnumerable<Posting> postings) =>
        postings.GroupBy(p => (p.PoolId, p.Account)).ToDictionary(g => g.Key, g => g.Sum(p => p.Debit.Amount - p.Credit.Amount));

    private static Posting[] Entry(Guid poolId, Money amount, string debit, string credit) =>
    [
        new(debit, poolId, amount, Money.Zero(amount.Currency)),
        new(credit, poolId, Money.Zero(amount.Currency), amount),
    ];
}
