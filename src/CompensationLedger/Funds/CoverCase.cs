using CompensationLedger.Cases;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Funds;

/// <summary>Declare that the fund compensates the buyers of a fraud case.</summary>
public sealed record CoverCase(Guid CaseId);

/// <summary>
/// The link between claims and the fund's money. A case is covered by one fund; from then on every
/// approval of a claim of that case (and a granted appeal) tells the fund what the claim is owed, through
/// a durable message in the same transaction as the approval (Wolverine's outbox). Covering a case
/// whose claims were already approved records those entitlements too.
/// </summary>
public static class CoverCaseEndpoint
{
    public static ProblemDetails Validate(CoverCase command) =>
        command.CaseId == Guid.Empty ? Problems.Invalid("caseId", "is required.") : Problems.None;

    public static Decision Decide(Fund fund, FraudCase? fraudCase, Guid? coveredByOtherFund, Guid caseId, string by, Instant now)
    {
        if (fraudCase is null)
            return new Refusal("case-not-found", $"There is no fraud case with id {caseId}.", StatusCodes.Status404NotFound);
        if (fund.CoveredCases.Contains(caseId))
            return Decision.Refuse("case-already-covered", $"The fund already covers {fraudCase.Title}.");
        if (coveredByOtherFund is { } other)
            return Decision.Refuse("case-covered-by-another-fund", $"{fraudCase.Title} is covered by fund {other}; a case's claims are owed by one fund.",
                new Dictionary<string, object?> { ["fundId"] = other });
        return Decision.Accept(new FundCoversCase(fund.Id, caseId, fraudCase.Title, by, now));
    }

    [WolverinePost("/api/funds/{fundId}/cases", Name = "CoverCase")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Fund")]
    [EndpointSummary("Declare that the fund compensates a fraud case's buyers: approved claims of the case become entitlements owed by this fund")]
    public static async Task<(IResult, Events, OutgoingMessages)> Post(
        CoverCase command,
        [WriteAggregate("fundId", OnMissing = OnMissing.ProblemDetailsWith404)] Fund fund,
        IDocumentSession session,
        System.Security.Claims.ClaimsPrincipal user,
        IClock clock,
        CancellationToken ct)
    {
        var fraudCase = await session.LoadAsync<FraudCase>(command.CaseId, ct);
        var other = await CaseCoverages.FundIdOf(session, command.CaseId, ct);
        var decision = Decide(fund, fraudCase, other is { } o && o != fund.Id ? o : null, command.CaseId, user.StaffName(), clock.GetCurrentInstant());
        var messages = new OutgoingMessages();
        if (!decision.IsRefused)
        {
            var approved = await session.Query<Claim>()
                .Where(c => c.CaseId == command.CaseId && c.Status == ClaimStatus.Approved)
                .ToListAsync(ct);
            foreach (var claim in approved)
                if (EntitlementFor(fund.Id, claim, user.StaffName()) is { } entitlement) messages.Add(entitlement);
        }
        var (result, events) = await FundResponses.RespondAsync(fund, decision,
            async updated => TypedResults.Ok(await FundDocumentViews.ViewOfAsync(session, updated, clock.GetCurrentInstant(), ct)));
        return (result, events, messages);
    }

    /// <summary>
    /// What the fund must be told when a claim is approved: its entitlement, in the fund's currency, and the buyer's
    /// pseudonymous key (claims filed before buyer keys have none: the fund then pays such a claim on its own).
    /// </summary>
    public static RecordEntitlement? EntitlementFor(Guid fundId, Claim claim, string by) =>
        claim.Entitlement is { } computation
            ? new RecordEntitlement(fundId, claim.Id, claim.Reference, claim.CaseId, claim.Platform, claim.SupplierAccount, claim.BuyerCountry,
                computation.Entitlement, by, claim.BuyerKey)
            : null;
}
