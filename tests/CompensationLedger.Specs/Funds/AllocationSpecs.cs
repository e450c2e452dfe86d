using CompensationLedger.Funds;

namespace CompensationLedger.Specs.Funds;

/// <summary>The allocation rules on their own: pro rata, rounding, leftover cents, pools, minimum payment.</summary>
public sealed class AllocationSpecs
{
    private static Guid Id(int n) => Guid.Parse($"00000000-0000-7000-8000-{n:D12}");

    private static Claimant C(int n, decimal owed) => new(Id(n), $"CL-2011-{n:D6}", owed);

    [Fact]
    public void enough_money_pays_everyone_in_full()
    {
        var shares = Allocation.ProRata(5_000m, [C(1, 980m), C(2, 1_000m), C(3, 420.50m)], 2);

        shares.ShouldBe([new Share(Id(1), 980m), new Share(Id(2), 1_000m), new Share(Id(3), 420.50m)], ignoreOrder: true);
    }

    [Fact]
    public void a_thousand_dollars_over_three_equal_claims_is_333_34_then_333_33_twice_by_claim_reference()
    {
        var claims = new[] { C(3, 1_000m), C(1, 1_000m), C(2, 1_000m) };

        var shares = Allocation.ProRata(1_000m, claims, 2);

        shares.Single(s => s.ClaimId == Id(1)).Amount.ShouldBe(333.34m);
        shares.Single(s => s.ClaimId == Id(2)).Amount.ShouldBe(333.33m);
        shares.Single(s => s.ClaimId == Id(3)).Amount.ShouldBe(333.33m);
        shares.Sum(s => s.Amount).ShouldBe(1_000m);
    }

    [Fact]
    public void the_result_does_not_depend_on_the_order_of_the_claims()
    {
        var claims = Enumerable.Range(1, 7).Select(n => C(n, 100m + n * 37.13m)).ToList();
        var forward = Allocation.ProRata(333.33m, claims, 2).OrderBy(s => s.ClaimId).ToList();

        for (var seed = 0; seed < 20; seed++)
        {
            var shuffled = claims.OrderBy(_ => Random.Shared.Next()).ToList();
            Allocation.ProRata(333.33m, shuffled, 2).OrderBy(s => s.ClaimId).ToList().ShouldBe(forward);
        }
    }

    [Fact]
    public void leftover_cents_go_to_the_largest_remainders_first()
    {
        var shares = Allocation.ProRata(0.02m, [C(1, 0.02m), C(2, 0.01m), C(3, 0.01m)], 2);

        // exact: 0.01, 0.005, 0.005 -> floors 0.01, 0, 0; one cent left, remainders tie: claim reference 2 before 3.
        shares.ShouldBe([new Share(Id(1), 0.01m), new Share(Id(2), 0.01m)], ignoreOrder: true);
    }

    [Fact]
    public void every_claim_gets_the_same_fraction_not_first_come()
    {
        var shares = Allocation.ProRata(1_500m, [C(1, 1_000m), C(2, 2_000m)], 2);

        shares.Single(s => s.ClaimId == Id(1)).Amount.ShouldBe(500m);
        shares.Single(s => s.ClaimId == Id(2)).Amount.ShouldBe(1_000m);
    }

    [Fact]
    public void yen_is_allocated_in_whole_yen()
    {
        var shares = Allocation.ProRata(100_000m, [C(1, 60_000m), C(2, 60_000m), C(3, 60_000m)], 0);

        shares.Select(s => s.Amount).ShouldBe([33_334m, 33_333m, 33_333m], ignoreOrder: true);
        shares.ShouldAllBe(s => s.Amount == decimal.Truncate(s.Amount));
        shares.Single(s => s.ClaimId == Id(1)).Amount.ShouldBe(33_334m);
    }

    [Fact]
    public void never_more_than_owed_nor_than_available()
    {
        var shares = Allocation.ProRata(10m, [C(1, 0.01m), C(2, 9_999.99m), C(3, 3.33m)], 2);

        shares.Sum(s => s.Amount).ShouldBe(10m);
        shares.ShouldAllBe(s => s.Amount <= (s.ClaimId == Id(1) ? 0.01m : s.ClaimId == Id(2) ? 9_999.99m : 3.33m));
    }

    private static readonly Guid General = Id(901);
    private static readonly Guid Xinda = Id(902);

    [Fact]
    public void a_claim_against_a_perpetrator_is_paid_from_its_pool_first_and_the_general_pool_only_when_the_policy_allows()
    {
        var pools = new[] { new PoolFunds(Xinda, PoolKind.Perpetrator, 600m), new PoolFunds(General, PoolKind.General, 10_000m) };
        var claims = new[] { new OwedClaim(Id(1), "CL-1", 1_000m, Xinda), new OwedClaim(Id(2), "CL-2", 500m, Xinda), new OwedClaim(Id(3), "CL-3", 700m, null) };

        var strict = Allocation.PlanRound(pools, claims, 0m, generalBacksPerpetrators: false, 2);
        strict.Allocations.ShouldBe([
            new PlannedAllocation(Id(1), "CL-1", Xinda, 400m),
            new PlannedAllocation(Id(2), "CL-2", Xinda, 200m),
            new PlannedAllocation(Id(3), "CL-3", General, 700m),
        ]);

        var backed = Allocation.PlanRound(pools, claims, 0m, generalBacksPerpetrators: true, 2);
        backed.Allocations.ShouldBe([
            new PlannedAllocation(Id(1), "CL-1", Xinda, 400m),
            new PlannedAllocation(Id(1), "CL-1", General, 600m),
            new PlannedAllocation(Id(2), "CL-2", Xinda, 200m),
            new PlannedAllocation(Id(2), "CL-2", General, 300m),
            new PlannedAllocation(Id(3), "CL-3", General, 700m),
        ]);
    }

    [Fact]
    public void an_allocation_under_the_minimum_payment_is_carried_and_its_money_stays_in_the_pool()
    {
        var pools = new[] { new PoolFunds(General, PoolKind.General, 101m) };
        var claims = new[] { new OwedClaim(Id(1), "CL-1", 10_000m, null), new OwedClaim(Id(2), "CL-2", 100m, null) };

        var plan = Allocation.PlanRound(pools, claims, minimumPayment: 5m, generalBacksPerpetrators: false, 2);

        // exact shares 100.00 and 1.00: the 1.00 is under 5.00 and does not pay CL-2 off.
        plan.Allocations.ShouldBe([new PlannedAllocation(Id(1), "CL-1", General, 100m)]);
        plan.Carried.ShouldBe([new PlannedCarry(Id(2), "CL-2", 1m)]);
    }

    [Fact]
    public void an_allocation_under_the_minimum_that_pays_the_claim_off_is_made()
    {
        var plan = Allocation.PlanRound([new PoolFunds(General, PoolKind.General, 1_000m)], [new OwedClaim(Id(1), "CL-1", 3m, null)], 5m, false, 2);

        plan.Allocations.ShouldBe([new PlannedAllocation(Id(1), "CL-1", General, 3m)]);
        plan.Carried.ShouldBeEmpty();
    }
}
