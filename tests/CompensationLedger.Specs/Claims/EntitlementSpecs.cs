using CompensationLedger.Claims;
using NodaTime;
using static CompensationLedger.Specs.Claims.ClaimGiven;

namespace CompensationLedger.Specs.Claims;

public sealed class EntitlementSpecs
{
    private static readonly LocalDate PaidOn = new(2011, 1, 25);

    private static EntitlementComputation Compute(decimal amount, string currency = "USD", CompensationLedger.ExchangeRates.ExchangeRate? rate = null)
    {
        var computation = Entitlements.Compute(Money.Of(amount, currency), PaidOn, Policy, rate, out var refusal);
        refusal.ShouldBeNull();
        return computation.ShouldNotBeNull();
    }

    [Theory]
    [InlineData("1400.00", "980.00", false)]
    [InlineData("1401.00", "980.70", false)]
    [InlineData("2000.00", "1000.00", true)]
    [InlineData("0.01", "0.01", false)]      // 0.007 rounds half away from zero... to the cent: 0.01
    [InlineData("1400.05", "980.04", false)] // 980.035: the midpoint goes away from zero
    [InlineData("1428.57", "1000.00", false)] // 999.999 rounds to the cap without exceeding it
    [InlineData("1428.58", "1000.00", true)]
    public void a_loss_in_the_fund_currency_is_covered_seventy_percent_up_to_the_cap(string loss, string expected, bool capped)
    {
        var computation = Compute(decimal.Parse(loss, System.Globalization.CultureInfo.InvariantCulture));

        computation.Entitlement.ShouldBe(new Money(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), "USD"));
        computation.Capped.ShouldBe(capped);
        computation.Rate.ShouldBeNull();
        computation.PolicyVersion.ShouldBe("config-1");
    }

    [Fact]
    public void a_loss_in_euros_is_converted_at_the_recorded_rate_for_the_payment_date_and_rounded_once()
    {
        // 1,000.00 EUR x 1.3945 = 1,394.50 USD; x 0.70 = 976.15
        var computation = Compute(1000.00m, "EUR", Rate("EUR", 1.3945m));

        computation.Entitlement.ShouldBe(new Money(976.15m, "USD"));
        computation.LossInFundCurrency.ShouldBe(1394.50m);
        computation.Rate.ShouldBe(new AppliedRate("EUR", "USD", PaidOn, 1.3945m));
        computation.Loss.ShouldBe(Money.Of(1000.00m, "EUR"));
    }

    [Fact]
    public void a_loss_in_yen_which_has_no_decimals_is_converted_and_rounded_to_the_cent()
    {
        // 98,765 JPY x 0.012 = 1,185.18 USD; x 0.70 = 829.626 -> 829.63
        var computation = Compute(98_765m, "JPY", Rate("JPY", 0.012m));

        computation.Entitlement.ShouldBe(new Money(829.63m, "USD"));
        computation.LossInFundCurrency.ShouldBe(1185.18m);
    }

    [Fact]
    public void a_loss_in_yen_above_the_cap_gets_the_cap()
    {
        Compute(250_000m, "JPY", Rate("JPY", 0.012m)).Entitlement.ShouldBe(new Money(1000.00m, "USD"));
    }

    [Fact]
    public void without_a_rate_for_the_payment_date_there_is_no_guess_but_a_refusal()
    {
        Entitlements.Compute(Money.Of(1000m, "EUR"), PaidOn, Policy, null, out var none).ShouldBeNull();
        none.ShouldNotBeNull().Code.ShouldBe("no-exchange-rate");

        Entitlements.Compute(Money.Of(1000m, "EUR"), PaidOn, Policy, Rate("EUR", 1.4m, PaidOn.PlusDays(-1)), out var otherDay).ShouldBeNull();
        otherDay.ShouldNotBeNull().Code.ShouldBe("no-exchange-rate");
    }

    [Fact]
    public void the_one_rounding_place_rounds_half_away_from_zero_to_the_currency_minor_unit()
    {
        Money.RoundedHalfAwayFromZero(0.005m, "USD").ShouldBe(new Money(0.01m, "USD"));
        Money.RoundedHalfAwayFromZero(-0.005m, "USD").ShouldBe(new Money(-0.01m, "USD"));
        Money.RoundedHalfAwayFromZero(0.5m, "JPY").ShouldBe(new Money(1m, "JPY"));
    }
}
