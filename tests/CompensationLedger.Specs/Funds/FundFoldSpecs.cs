using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using NodaTime;

namespace CompensationLedger.Specs.Funds;

/// <summary>
/// Given a fund's events, when they are folded many at once (decisions, the rebuild), then the fund is the one they make one by one
/// (FundInvariantProperties checks that over thousands of random histories; these pin the edges).
/// </summary>
public sealed class FundFoldSpecs
{
    private static readonly Instant Now = Instant.FromUtc(2011, 6, 1, 9, 0);
    private static readonly Guid FundId = Guid.Parse("0195a2c0-0000-7000-8000-00000000f00d");
    private static readonly Guid General = Guid.Parse("0195a2c0-0000-7000-8000-0000000000a1");

    private static readonly FundEstablished Established = new(FundId, "Fair Play Fund", "Alibaba.com", "USD", ["Alibaba.com"],
        new PolicyVersion(1, new LocalDate(2011, 2, 21), 0.70m, Money.Of(1_000m, "USD"), null, Money.Of(0m, "USD"), 90, 30, 60, false), "fiona", Now);

    private static Guid Claim(int n) => Guid.Parse($"0195a2c0-0000-7000-8000-{n:D12}");

    private static object[] History() =>
    [
        Established,
        new PoolOpened(FundId, General, PoolKind.General, "General pool", null, "fiona", Now),
        new PoolDeposited(FundId, General, Money.Of(5_000m, "USD"), "DEP-1", new LocalDate(2011, 6, 1), "fiona", Now),
        .. Enumerable.Range(1, 50).Select(n => new EntitlementRecorded(FundId, Claim(n), $"CL-2011-{n:D6}", Guid.Empty, "Alibaba.com", "someone", "GB",
            Money.Of(10m + n, "USD"), "abe", Now)),
        new EntitlementRecorded(FundId, Claim(7), "CL-2011-000007", Guid.Empty, "Alibaba.com", "someone", "GB", Money.Of(99m, "USD"), "abe", Now), // an appeal
        new BankStatementImported(FundId, "ST-1", [], "fiona", Now),
    ];

    [Fact]
    public void folding_at_once_makes_the_fund_one_by_one_makes_and_counts_the_version_per_event()
    {
        var events = History();
        var oneByOne = events.Aggregate((Fund?)null, Fund.Fold)!;

        var atOnce = Fund.Fold(null, events)!;

        atOnce.Version.ShouldBe(events.Length);
        oneByOne.Version.ShouldBe(events.Length);
        atOnce.Entitlements.Count.ShouldBe(50);
        atOnce.Entitlements[Claim(7)].Amount.ShouldBe(99m);
        atOnce.Pools[General].Deposited.ShouldBe(5_000m);
        atOnce.StatementIds.ShouldBe(["ST-1"]);
        atOnce.Entitlements.ShouldBe(oneByOne.Entitlements);
        atOnce.Pools.ShouldBe(oneByOne.Pools);
        atOnce.DepositsByBankReference.ShouldBe(oneByOne.DepositsByBankReference);
    }

    [Fact]
    public void folding_more_events_onto_a_fund_leaves_that_fund_as_it_was()
    {
        var events = History();
        var halfway = Fund.Fold(null, events[..20])!;
        var entitlementsBefore = halfway.Entitlements.ToDictionary();

        var after = Fund.Fold(halfway, events[20..])!;

        halfway.Entitlements.ToDictionary().ShouldBe(entitlementsBefore);
        halfway.Version.ShouldBe(20);
        after.Version.ShouldBe(events.Length);
        after.Entitlements.Count.ShouldBe(50);
    }

    [Fact]
    public void the_rebuild_fold_takes_the_stream_version_of_the_last_event()
    {
        var events = History();

        Fund.FoldMany(null, events, streamVersion: 1_000)!.Version.ShouldBe(1_000);
        Fund.FoldMany(null, [], streamVersion: 0).ShouldBeNull();
    }

    [Fact]
    public void a_stream_that_does_not_begin_with_the_fund_established_or_establishes_it_twice_is_refused()
    {
        Should.Throw<ArgumentException>(() => Fund.Fold(null, [new PoolOpened(FundId, General, PoolKind.General, "General pool", null, "fiona", Now)]));
        Should.Throw<ArgumentException>(() => Fund.Fold(null, [Established, Established]));
    }
}
