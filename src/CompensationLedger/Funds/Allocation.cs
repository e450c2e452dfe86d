namespace CompensationLedger.Funds;

/// <summary>One claim's share of a pool as the pro-rata rule computes it.</summary>
public sealed record Share(Guid ClaimId, decimal Amount);

/// <summary>A claim still owed money, with the key that breaks ties between equal remainders (the claim reference).</summary>
public sealed record Claimant(Guid ClaimId, string TieBreak, decimal Owed);

/// <summary>A pool's money as a round sees it.</summary>
public sealed record PoolFunds(Guid PoolId, PoolKind Kind, decimal Available);

/// <summary>What a claim is still owed and which perpetrator pool (if any) pays it first.</summary>
public sealed record OwedClaim(Guid ClaimId, string ClaimReference, decimal StillOwed, Guid? PerpetratorPoolId);

public sealed record PlannedAllocation(Guid ClaimId, string ClaimReference, Guid PoolId, decimal Amount);

public sealed record PlannedCarry(Guid ClaimId, string ClaimReference, decimal Amount);

public sealed record RoundPlan(IReadOnlyList<PlannedAllocation> Allocations, IReadOnlyList<PlannedCarry> Carried);

/// <summary>
/// The allocation rules of a distribution round, pure and deterministic.
/// </summary>
public static class Allocation
{
    /// <summary>
    /// Shares <paramref name="available"/> among <paramref name="claimants"/>. Enough money: each
    /// gets what it is owed. Not enough: each gets the same fraction (available / total owed) of
    /// what it is owed, rounded down to the currency's minor unit; the minor units left over go one
    /// each to the largest remainders, ties broken by the tie-break key (ordinal), then the claim id.
    /// Computed in whole minor units with 128-bit integers, so remainders compare exactly and the
    /// result never depends on input order. Never more than owed, never more than available.
    /// </summary>
    public static IReadOnlyList<Share> ProRata(decimal available, IReadOnlyList<Claimant> claimants, int minorUnits)
    {
        var unit = MinorUnit(minorUnits);
        var owing = claimants.Where(c => c.Owed > 0m).ToList();
        var totalOwed = owing.Sum(c => c.Owed);
        if (available <= 0m || totalOwed == 0m) return [];
        if (totalOwed <= available) return owing.Select(c => new Share(c.ClaimId, c.Owed)).ToArray();

        var availableUnits = ToUnits(available, unit);
        var totalUnits = ToUnits(totalOwed, unit);
        var shares = owing.Select(c =>
        {
            var numerator = ToUnits(c.Owed, unit) * availableUnits;
            return (Claimant: c, Floor: numerator / totalUnits, Remainder: numerator % totalUnits);
        }).ToList();

        var leftover = availableUnits - shares.Aggregate(Int128.Zero, (sum, s) => sum + s.Floor);
        var topped = shares
            .OrderByDescending(s => s.Remainder)
            .ThenBy(s => s.Claimant.TieBreak, StringComparer.Ordinal)
            .ThenBy(s => s.Claimant.ClaimId)
            .Take((int)leftover)
            .Select(s => s.Claimant.ClaimId)
            .ToHashSet();

        return shares
            .Select(s => new Share(s.Claimant.ClaimId, FromUnits(s.Floor + (topped.Contains(s.Claimant.ClaimId) ? 1 : 0), unit)))
            .Where(s => s.Amount > 0m)
            .ToArray();
    }

    /// <summary>
    /// Plans a round over all pools. The rule for which pool pays:
    /// <list type="number">
    /// <item>A claim against a supplier that has a perpetrator pool is paid from that pool first:
    /// each perpetrator pool is shared pro rata among its own claims.</item>
    /// <item>The general pool then pays, pro rata, every claim without a perpetrator pool and, only when
    /// <paramref name="generalBacksPerpetrators"/>, what perpetrator-pool claims are still owed after step 1.
    /// Otherwise a claim whose perpetrator pool is empty waits for that pool to be refilled.</item>
    /// <item>A claim whose total for the round (over both pools) is below <paramref name="minimumPayment"/>
    /// and does not pay it off is carried: none of its allocations are made, the money stays available
    /// in its pools (it is not redistributed in this round), and the next round allocates it again.</item>
    /// </list>
    /// </summary>
    public static RoundPlan PlanRound(IReadOnlyList<PoolFunds> pools, IReadOnlyList<OwedClaim> claims, decimal minimumPayment, bool generalBacksPerpetrators, int minorUnits)
    {
        var owing = claims.Where(c => c.StillOwed > 0m).ToList();
        // Looked up by id, never searched: a round over tens of thousands of claims stays linear (a benchmark found it quadratic).
        var referenceOf = owing.ToDictionary(c => c.ClaimId, c => c.ClaimReference);
        var poolIds = pools.Select(p => p.PoolId).ToHashSet();
        var byPerpetratorPool = owing.Where(c => c.PerpetratorPoolId is not null).ToLookup(c => c.PerpetratorPoolId!.Value);
        var planned = new List<PlannedAllocation>();
        var fromPerpetrator = new Dictionary<Guid, decimal>();

        foreach (var pool in pools.Where(p => p.Kind == PoolKind.Perpetrator))
        {
            var own = byPerpetratorPool[pool.PoolId];
            foreach (var share in ProRata(pool.Available, own.Select(c => new Claimant(c.ClaimId, c.ClaimReference, c.StillOwed)).ToList(), minorUnits))
            {
                planned.Add(new PlannedAllocation(share.ClaimId, referenceOf[share.ClaimId], pool.PoolId, share.Amount));
                fromPerpetrator[share.ClaimId] = share.Amount;
            }
        }

        if (pools.FirstOrDefault(p => p.Kind == PoolKind.General) is { } general)
        {
            var forGeneral = owing
                .Where(c => c.PerpetratorPoolId is null || !poolIds.Contains(c.PerpetratorPoolId.Value) || generalBacksPerpetrators)
                .Select(c => new Claimant(c.ClaimId, c.ClaimReference, c.StillOwed - fromPerpetrator.GetValueOrDefault(c.ClaimId)))
                .ToList();
            foreach (var share in ProRata(general.Available, forGeneral, minorUnits))
                planned.Add(new PlannedAllocation(share.ClaimId, referenceOf[share.ClaimId], general.PoolId, share.Amount));
        }

        var plannedFor = planned.GroupBy(a => a.ClaimId).ToDictionary(g => g.Key, g => g.Sum(a => a.Amount));
        var carried = new List<PlannedCarry>();
        foreach (var claim in owing)
        {
            var total = plannedFor.GetValueOrDefault(claim.ClaimId);
            if (total > 0m && total < minimumPayment && total < claim.StillOwed)
                carried.Add(new PlannedCarry(claim.ClaimId, claim.ClaimReference, total));
        }
        var carriedIds = carried.Select(c => c.ClaimId).ToHashSet();

        return new RoundPlan(
            planned.Where(a => !carriedIds.Contains(a.ClaimId)).OrderBy(a => a.ClaimReference, StringComparer.Ordinal).ThenBy(a => a.ClaimId).ToArray(),
            carried.OrderBy(c => c.ClaimReference, StringComparer.Ordinal).ToArray());
    }

    private static decimal MinorUnit(int minorUnits)
    {
        var unit = 1m;
        for (var i = 0; i < minorUnits; i++) unit /= 10m;
        return unit;
    }

    private static Int128 ToUnits(decimal amount, decimal unit)
    {
        var units = amount / unit;
        if (units != decimal.Truncate(units))
            throw new ArgumentException($"{amount} is not a whole number of minor units ({unit}).", nameof(amount));
        return (Int128)units;
    }

    private static decimal FromUnits(Int128 units, decimal unit) => Fund.Normalised((decimal)units * unit);
}
