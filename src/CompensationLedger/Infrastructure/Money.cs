using System.Globalization;
using System.Text.Json.Serialization;

namespace CompensationLedger;

/// <summary>
/// An amount of one currency. System.Decimal end to end; never more decimal places than
/// ISO 4217 allows for the currency (validated at the edge, enforced by <see cref="Money.Of"/>).
/// </summary>
public readonly record struct Money(decimal Amount, string Currency)
{
    /// <summary>Builds money, refusing an unknown currency or more decimals than the currency has.</summary>
    public static Money Of(decimal amount, string currency)
    {
        var minorUnits = Currencies.MinorUnits(currency)
            ?? throw new ArgumentException($"'{currency}' is not an ISO 4217 currency code.", nameof(currency));
        if (Scale(amount) > minorUnits)
            throw new ArgumentException($"{currency} allows {minorUnits} decimal places; {amount} has more.", nameof(amount));
        return new Money(amount, currency);
    }

    public static Money Zero(string currency) => new(0m, currency);

    public static Money operator +(Money left, Money right) => new(left.Amount + right.Amount, SameCurrency(left, right));

    public static Money operator -(Money left, Money right) => new(left.Amount - right.Amount, SameCurrency(left, right));

    public Money Add(Money other) => this + other;

    public Money Subtract(Money other) => this - other;

    [JsonIgnore]
    public bool IsNegative => Amount < 0m;

    /// <summary>
    /// The one place money is rounded: to the currency's minor unit, half away from zero
    /// (the rule the fund's policy states for entitlements).
    /// </summary>
    public static Money RoundedHalfAwayFromZero(decimal amount, string currency)
    {
        var minorUnits = Currencies.MinorUnits(currency)
            ?? throw new ArgumentException($"'{currency}' is not an ISO 4217 currency code.", nameof(currency));
        return new Money(decimal.Round(amount, minorUnits, MidpointRounding.AwayFromZero), currency);
    }

    /// <summary>Number of decimal places actually carrying value (1400.00 has scale 0, 0.01 has 2).</summary>
    public static int Scale(decimal amount)
    {
        var scale = amount.Scale;
        while (scale > 0 && amount == decimal.Round(amount, scale - 1)) scale--;
        return scale;
    }

    public override string ToString() =>
        $"{Amount.ToString("N" + (Currencies.MinorUnits(Currency) ?? 2), CultureInfo.InvariantCulture)} {Currency}";

    private static string SameCurrency(Money left, Money right) =>
        left.Currency == right.Currency
            ? left.Currency
            : throw new InvalidOperationException($"Cannot combine {left.Currency} with {right.Currency}.");
}

/// <summary>ISO 4217 currency codes with their minor units (decimal places).</summary>
public static class Currencies
{
    // Currencies with a minor unit other than 2 are listed explicitly; all others in the list use 2.
    private static readonly Dictionary<string, int> Exceptions = new(StringComparer.Ordinal)
    {
        ["BIF"] = 0, ["CLP"] = 0, ["DJF"] = 0, ["GNF"] = 0, ["ISK"] = 0, ["JPY"] = 0, ["KMF"] = 0,
        ["KRW"] = 0, ["PYG"] = 0, ["RWF"] = 0, ["UGX"] = 0, ["UYI"] = 0, ["VND"] = 0, ["VUV"] = 0,
        ["XAF"] = 0, ["XOF"] = 0, ["XPF"] = 0,
        ["BHD"] = 3, ["IQD"] = 3, ["JOD"] = 3, ["KWD"] = 3, ["LYD"] = 3, ["OMR"] = 3, ["TND"] = 3,
        ["CLF"] = 4, ["UYW"] = 4,
    };

    private static readonly HashSet<string> TwoDecimal = new(StringComparer.Ordinal)
    {
        "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
        "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CNY", "COP",
        "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
        "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR",
        "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL",
        "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN",
        "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB",
        "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
        "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UZS", "VES", "WST",
        "XCD", "YER", "ZAR", "ZMW", "ZWG",
    };

    /// <summary>The currency's decimal places, or null when the code is not a known ISO 4217 currency.</summary>
    public static int? MinorUnits(string? currency) =>
        currency is null ? null
        : Exceptions.TryGetValue(currency, out var units) ? units
        : TwoDecimal.Contains(currency) ? 2
        : null;

    public static bool IsKnown(string? currency) => MinorUnits(currency) is not null;
}
