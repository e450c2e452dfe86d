using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using NodaTime;

namespace CompensationLedger.Specs.Funds;

/// <summary>Given a fund, when a batch of approvals arrives, then each is decided on what the ones before it left.</summary>
public sealed class EntitlementBatchSpecs
{
    private static readonly Instant Now = Instant.FromUtc(2011, 6, 1, 9, 0);
    private static readonly Guid FundId = Guid.Parse("0195a2c0-0000-7000-8000-00000000f00d");

    private static Fund Established() => Fund.Replay([new FundEstablished(FundId, "Fair Play Fund", "Alibaba.com", "USD", ["Alibaba.com"],
        new PolicyVersion(1, new LocalDate(2011, 2, 21), 0.70m, Money.Of(1_000m, "USD"), null, Money.Of(0m, "USD"), 90, 30, 60, false), "fiona", Now)]);

    private static Guid Claim(int n) => Guid.Parse($"0195a2c0-0000-7000-8000-{n:D12}");

    private static RecordEntitlement Owed(int n, decimal amount, string currency = "USD") =>
        new(FundId, Claim(n), $"CL-2011-{n:D6}", Guid.Empty, "Alibaba.com", "someone", "GB", Money.Of(amount, currency), "abe", $"buyer:{n}");

    [Fact]
    public void a_batch_records_each_entitlement_once_applies_a_later_amount_and_sets_a_refused_one_apart()
    {
        var (events, refused) = RecordEntitlementHandler.DecideBatch(Established(),
            [Owed(1, 980m), Owed(2, 500m), Owed(1, 980m), Owed(3, 100m, "EUR"), Owed(2, 700m)], Now);

        events.Cast<EntitlementRecorded>().Select(e => (e.ClaimId, e.Amount.Amount)).ShouldBe([(Claim(1), 980m), (Claim(2), 500m), (Claim(2), 700m)]);
        refused.ShouldHaveSingleItem().Refusal.Code.ShouldBe("currency-mismatch");
        var fund = events.Aggregate(Established(), (f, e) => Fund.Fold(f, e)!);
        fund.Entitlements[Claim(2)].Amount.ShouldBe(700m);
        fund.Entitlements.Count.ShouldBe(2);
    }

    [Fact]
    public void a_batch_decides_the_same_as_the_commands_one_by_one()
    {
        var batch = Enumerable.Range(1, 200).Select(n => Owed(n % 150, 1m + n)).ToArray();

        var (events, _) = RecordEntitlementHandler.DecideBatch(Established(), batch, Now);

        var oneByOne = Established();
        var expected = new List<object>();
        foreach (var command in batch)
            foreach (var e in RecordEntitlementHandler.Decide(oneByOne, command, Now).Events)
            {
                oneByOne = Fund.Fold(oneByOne, e)!;
                expected.Add(e);
            }
        events.ShouldBeFacts([.. expected]);
    }
}
