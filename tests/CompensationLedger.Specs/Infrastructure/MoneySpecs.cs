namespace CompensationLedger.Specs.Infrastructure;

public sealed class MoneySpecs
{
    [Theory]
    [InlineData("1400.00", 0)]
    [InlineData("1400.10", 1)]
    [InlineData("0.01", 2)]
    [InlineData("0.0100", 2)]
    [InlineData("980.705", 3)]
    [InlineData("-12.5", 1)]
    public void scale_counts_only_the_decimals_that_carry_value(string amount, int scale) =>
        Money.Scale(decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture)).ShouldBe(scale);

    [Fact]
    public void money_refuses_more_decimals_than_the_currency_has()
    {
        Should.Throw<ArgumentException>(() => Money.Of(0.001m, "USD"));
        Should.Throw<ArgumentException>(() => Money.Of(1.5m, "JPY"));
        Money.Of(1500m, "JPY").Amount.ShouldBe(1500m);
        Money.Of(1.234m, "KWD").Currency.ShouldBe("KWD");
    }

    [Fact]
    public void money_refuses_an_unknown_currency() =>
        Should.Throw<ArgumentException>(() => Money.Of(1m, "XYZ"));

    [Theory]
    [InlineData("980.705", "USD", "980.71")]
    [InlineData("980.704", "USD", "980.70")]
    [InlineData("-0.005", "USD", "-0.01")]
    [InlineData("1500.5", "JPY", "1501")]
    [InlineData("0.0049", "USD", "0.00")]
    public void rounding_is_half_away_from_zero_to_the_minor_unit(string raw, string currency, string expected)
    {
        var rounded = Money.RoundedHalfAwayFromZero(decimal.Parse(raw, System.Globalization.CultureInfo.InvariantCulture), currency);
        rounded.ShouldBe(new Money(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), currency));
    }

    [Fact]
    public void amounts_in_different_currencies_cannot_be_added() =>
        Should.Throw<InvalidOperationException>(() => Money.Of(1m, "USD") + Money.Of(1m, "EUR"));

    [Fact]
    public void amounts_in_one_currency_add_and_subtract_exactly()
    {
        (Money.Of(0.10m, "USD") + Money.Of(0.20m, "USD")).ShouldBe(Money.Of(0.30m, "USD"));
        (Money.Of(1000m, "USD") - Money.Of(333.34m, "USD")).ShouldBe(Money.Of(666.66m, "USD"));
    }

    [Theory]
    [InlineData("USD", 2)]
    [InlineData("JPY", 0)]
    [InlineData("KWD", 3)]
    [InlineData("EUR", 2)]
    [InlineData("usd", null)]
    [InlineData("", null)]
    public void currencies_know_their_minor_units(string code, int? units) =>
        Currencies.MinorUnits(code).ShouldBe(units);
}
