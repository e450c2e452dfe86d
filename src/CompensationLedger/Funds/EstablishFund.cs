using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Funds;

/// <summary>Establish a compensation fund with its first policy version.</summary>
public sealed record EstablishFund(
    string Name,
    string Sponsor,
    string Currency,
    IReadOnlyList<string> EligiblePlatforms,
    PolicyTerms Policy);

/// <summary>The terms of one policy version, as finance sends them.</summary>
public sealed record PolicyTerms(
    LocalDate EffectiveFrom,
    decimal CoverageRatio,
    Money CapPerClaim,
    Money MinimumPayment,
    int FilingWindowDays,
    int DeficiencyDeadlineDays,
    int AppealWindowDays,
    Money? CapPerBuyer = null,
    bool GeneralPoolBacksPerpetratorPools = false)
{
    public PolicyVersion ToVersion(int version) =>
        new(version, EffectiveFrom, CoverageRatio, CapPerClaim, CapPerBuyer, MinimumPayment, FilingWindowDays, DeficiencyDeadlineDays, AppealWindowDays,
            GeneralPoolBacksPerpetratorPools);

    /// <summary>Checks the terms; money must be in the fund's currency (<paramref name="currency"/>, when known).</summary>
    public static Validation Check(Validation check, string prefix, PolicyTerms? terms, string? currency)
    {
        if (terms is null) return check.Add(prefix, "is required.");
        if (terms.CoverageRatio is <= 0m or > 1m) check.Add($"{prefix}.coverageRatio", "must be more than 0 and at most 1 (e.g. 0.70).");
        if (Money.Scale(terms.CoverageRatio) > 4) check.Add($"{prefix}.coverageRatio", "allows at most 4 decimal places.");
        check.Money($"{prefix}.capPerClaim", terms.CapPerClaim)
            .Money($"{prefix}.minimumPayment", terms.MinimumPayment, mustBePositive: false);
        if (terms.CapPerBuyer is not null) check.Money($"{prefix}.capPerBuyer", terms.CapPerBuyer);
        Days(check, $"{prefix}.filingWindowDays", terms.FilingWindowDays);
        Days(check, $"{prefix}.deficiencyDeadlineDays", terms.DeficiencyDeadlineDays);
        Days(check, $"{prefix}.appealWindowDays", terms.AppealWindowDays);
        if (Currencies.IsKnown(currency))
        {
            SameCurrency(check, $"{prefix}.capPerClaim.currency", terms.CapPerClaim, currency!);
            SameCurrency(check, $"{prefix}.minimumPayment.currency", terms.MinimumPayment, currency!);
            if (terms.CapPerBuyer is { } capPerBuyer) SameCurrency(check, $"{prefix}.capPerBuyer.currency", capPerBuyer, currency!);
        }
        if (terms.CapPerBuyer is { } cap && cap.Currency == terms.CapPerClaim.Currency && cap.Amount < terms.CapPerClaim.Amount)
            check.Add($"{prefix}.capPerBuyer", "must not be less than capPerClaim.");
        return check;
    }

    private static void Days(Validation check, string field, int days)
    {
        if (days is < 1 or > 3650) check.Add(field, "must be between 1 and 3650 days.");
    }

    private static void SameCurrency(Validation check, string field, Money money, string currency)
    {
        if (Currencies.IsKnown(money.Currency) && money.Currency != currency) check.Add(field, $"must be the fund's currency, {currency}.");
    }
}

public static class EstablishFundEndpoint
{
    public const int MaxPlatforms = 50;

    public static ProblemDetails Validate(EstablishFund command)
    {
        var check = new Validation()
            .Text("name", command.Name, Validation.NameLength)
            .Text("sponsor", command.Sponsor, Validation.NameLength)
            .List("eligiblePlatforms", command.EligiblePlatforms, MaxPlatforms);
        if (!Currencies.IsKnown(command.Currency)) check.Add("currency", $"'{command.Currency}' is not an ISO 4217 currency code (e.g. USD, EUR, JPY).");
        for (var i = 0; i < (command.EligiblePlatforms?.Count ?? 0); i++)
            check.Text($"eligiblePlatforms[{i}]", command.EligiblePlatforms![i], Validation.IdentifierLength);
        var duplicates = (command.EligiblePlatforms ?? []).Where(p => !string.IsNullOrWhiteSpace(p))
            .GroupBy(p => p.Trim(), StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0) check.Add("eligiblePlatforms", $"lists {string.Join(", ", duplicates)} more than once.");
        PolicyTerms.Check(check, "policy", command.Policy, command.Currency);
        return check.ToProblem();
    }

    /// <summary>The decision: the fund is established as stated, with policy version 1.</summary>
    public static FundEstablished Decide(Guid fundId, EstablishFund command, string by, Instant now) =>
        new(fundId, command.Name.Trim(), command.Sponsor.Trim(), command.Currency, command.EligiblePlatforms.Select(p => p.Trim()).ToArray(),
            command.Policy.ToVersion(1), by, now);

    [WolverinePost("/api/funds", Name = "EstablishFund")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Fund")]
    [EndpointSummary("Establish a compensation fund with its first policy")]
    public static (Created<FundView>, IStartStream) Post(EstablishFund command, ClaimsPrincipal user, IClock clock)
    {
        var fundId = Guid.CreateVersion7();
        var now = clock.GetCurrentInstant();
        var established = Decide(fundId, command, user.StaffName(), now);
        return (TypedResults.Created($"/api/funds/{fundId}", FundView.From(Fund.Create(established), now)),
            MartenOps.StartStream<Fund>(fundId, established));
    }
}
