using CompensationLedger.Claims;
using CompensationLedger.ExchangeRates;
using NodaTime;

namespace CompensationLedger.Specs.ExchangeRates;

/// <summary>A fund's own rates are kept apart from the rates recorded for every fund, and an entitlement says whose rate it used.</summary>
public sealed class FundExchangeRateSpecs
{
    private static readonly Instant Now = Instant.FromUtc(2011, 3, 1, 9, 0);
    private static readonly LocalDate Day = new(2011, 2, 10);
    private static readonly Guid FundA = Guid.Parse("0195a2c0-0000-7000-8000-00000000f00a");
    private static readonly Guid FundB = Guid.Parse("0195a2c0-0000-7000-8000-00000000f00b");

    [Fact]
    public void a_funds_rate_is_recorded_in_the_funds_own_stream_under_the_funds_own_key()
    {
        var command = new RecordExchangeRate(Day, "EUR", "USD", 1.3652m);

        var forA = RecordExchangeRateEndpoint.Decide(command, null, "fiona", Now, FundA).Events.Single().ShouldBeOfType<ExchangeRateRecorded>();
        var forB = RecordExchangeRateEndpoint.Decide(command, null, "fiona", Now, FundB).Events.Single().ShouldBeOfType<ExchangeRateRecorded>();
        var forEvery = RecordExchangeRateEndpoint.Decide(command, null, "fiona", Now).Events.Single().ShouldBeOfType<ExchangeRateRecorded>();

        forA.FundId.ShouldBe(FundA);
        forEvery.FundId.ShouldBeNull();
        new[] { forA.PairId, forB.PairId, forEvery.PairId }.Distinct().Count().ShouldBe(3);
        ExchangeRate.From(forA).Id.ShouldBe($"fund/{FundA:N}/EUR/USD/2011-02-10");
        ExchangeRate.From(forEvery).Id.ShouldBe("EUR/USD/2011-02-10"); // the key rates always had: those recorded before stay found
    }

    [Fact]
    public void an_entitlement_converted_at_a_funds_own_rate_records_the_fund()
    {
        var rate = ExchangeRate.From(new ExchangeRateRecorded(Guid.Empty, "EUR", "USD", Day, 1.3652m, "fiona", Now, FundA));

        var computation = Entitlements.Compute(Money.Of(1000m, "EUR"), Day, Specs.Claims.ClaimGiven.Policy, rate, out var refusal);

        refusal.ShouldBeNull();
        computation!.Rate.ShouldBe(new AppliedRate("EUR", "USD", Day, 1.3652m, FundA));
        computation.Entitlement.ShouldBe(Money.Of(955.64m, "USD"));
    }
}
