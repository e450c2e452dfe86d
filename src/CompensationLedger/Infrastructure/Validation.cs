using Microsoft.AspNetCore.Mvc;
using NodaTime;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// Collects input errors per field (JSON path style, e.g. <c>accounts[2].accountId</c>) and turns
/// them into one 400 problem. Rules that depend on stored state are not here: they are refusals
/// (409) decided by the feature's pure decision.
/// </summary>
public sealed class Validation
{
    public const int NameLength = 200;
    public const int IdentifierLength = 100;
    public const int TextLength = 4000;

    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool IsValid => _errors.Count == 0;

    public Validation Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list)) _errors[field] = list = [];
        list.Add(message);
        return this;
    }

    public Validation Text(string field, string? value, int maxLength, bool required = true)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            if (required) Add(field, "is required.");
            return this;
        }
        if (value.Length > maxLength) Add(field, $"must be at most {maxLength} characters (got {value.Length}).");
        if (value.Any(char.IsControl)) Add(field, "must not contain control characters.");
        return this;
    }

    public Validation Money(string field, Money? money, bool mustBePositive = true)
    {
        if (money is null)
        {
            Add(field, "is required.");
            return this;
        }
        var value = money.Value;
        var minorUnits = Currencies.MinorUnits(value.Currency);
        if (minorUnits is null)
        {
            Add($"{field}.currency", $"'{value.Currency}' is not an ISO 4217 currency code (e.g. USD, EUR, JPY).");
            return this;
        }
        if (mustBePositive && value.Amount <= 0m) Add($"{field}.amount", "must be greater than zero.");
        else if (value.Amount < 0m) Add($"{field}.amount", "must not be negative.");
        if (CompensationLedger.Money.Scale(value.Amount) > minorUnits)
            Add($"{field}.amount", $"{value.Currency} allows at most {minorUnits} decimal places.");
        if (value.Amount > 1_000_000_000_000m) Add($"{field}.amount", "is implausibly large.");
        return this;
    }

    public Validation Period(string fromField, LocalDate? from, string toField, LocalDate? to)
    {
        if (from is null) Add(fromField, "is required.");
        if (to is null) Add(toField, "is required.");
        if (from is not null && to is not null && to < from) Add(toField, $"must be on or after {fromField}.");
        return this;
    }

    public Validation List<T>(string field, IReadOnlyCollection<T>? items, int max, int min = 1)
    {
        if (items is null || items.Count < min) Add(field, min == 1 ? "must list at least one item." : $"must list at least {min} items.");
        else if (items.Count > max) Add(field, $"must list at most {max} items (got {items.Count}).");
        return this;
    }

    /// <summary>An optional ISO 8601 instant in UTC (query strings such as <c>asOf</c>); null when absent or invalid.</summary>
    public Instant? Instant(string field, string? value)
    {
        if (value is null) return null;
        var parsed = NodaTime.Text.InstantPattern.ExtendedIso.Parse(value.Trim());
        if (parsed.Success) return parsed.Value;
        Add(field, "must be an ISO 8601 instant in UTC, e.g. 2011-06-30T23:59:59Z.");
        return null;
    }

    /// <summary>An ISO date (query strings such as <c>from</c>); null when absent or invalid.</summary>
    public LocalDate? Date(string field, string? value, bool required = false)
    {
        if (value is null)
        {
            if (required) Add(field, "is required: an ISO date such as 2011-06-30.");
            return null;
        }
        var parsed = NodaTime.Text.LocalDatePattern.Iso.Parse(value.Trim());
        if (parsed.Success) return parsed.Value;
        Add(field, "must be an ISO date such as 2011-06-30.");
        return null;
    }

    public ProblemDetails ToProblem() =>
        IsValid ? Problems.None : Problems.Invalid(_errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal));
}
