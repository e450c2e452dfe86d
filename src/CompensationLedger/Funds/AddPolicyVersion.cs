using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Funds;

/// <summary>Add a policy version, in force from its effective date.</summary>
public sealed record AddPolicyVersion(PolicyTerms Policy);

public static class AddPolicyVersionEndpoint
{
    public static ProblemDetails Validate(AddPolicyVersion command) => PolicyTerms.Check(new Validation(), "policy", command.Policy, null).ToProblem();

    /// <summary>
    /// A new version may not reach into the past: it takes effect today or later, and not before the
    /// latest version's effective date, so no claim already filed changes policy under its feet.
    /// </summary>
    public static Decision Decide(Fund fund, AddPolicyVersion command, string by, Instant now)
    {
        var terms = command.Policy;
        var wrongCurrency = new[] { terms.CapPerClaim, terms.MinimumPayment }.Concat(terms.CapPerBuyer is { } c ? [c] : [])
            .Where(m => m.Currency != fund.Currency).ToList();
        if (wrongCurrency.Count > 0)
            return new Refusal("currency-mismatch", $"The policy's amounts must be in the fund's currency, {fund.Currency}.", StatusCodes.Status400BadRequest);
        var today = now.InUtc().Date;
        if (terms.EffectiveFrom < today)
            return Decision.Refuse("policy-in-the-past", $"A new policy version takes effect today ({today:yyyy-MM-dd}) or later, not {terms.EffectiveFrom:yyyy-MM-dd}.");
        var latest = fund.Policies.Max(p => p.EffectiveFrom);
        if (terms.EffectiveFrom < latest)
            return Decision.Refuse("policy-out-of-order", $"Version {fund.Policies.Count} takes effect on {latest:yyyy-MM-dd}; a new version cannot take effect before it.");
        return Decision.Accept(new PolicyVersionAdded(fund.Id, terms.ToVersion(fund.Policies.Max(p => p.Version) + 1), by, now));
    }

    [WolverinePost("/api/funds/{fundId}/policies", Name = "AddPolicyVersion")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Fund")]
    [EndpointSummary("Add a policy version, in force from a date")]
    public static async Task<(IResult, Events)> Post(
        AddPolicyVersion command,
        [WriteAggregate("fundId", OnMissing = OnMissing.ProblemDetailsWith404)] Fund fund,
        IDocumentSession session,
        ClaimsPrincipal user,
        IClock clock,
        CancellationToken ct)
    {
        var now = clock.GetCurrentInstant();
        var check = PolicyTerms.Check(new Validation(), "policy", command.Policy, fund.Currency);
        if (!check.IsValid) return (check.ToProblem().ToResult(), []);
        var decision = Decide(fund, command, user.StaffName(), now);
        return await FundResponses.RespondAsync(fund, decision,
            async updated => TypedResults.Ok(await FundDocumentViews.ViewOfAsync(session, updated, now, ct)));
    }
}
