using System.Security.Claims;
using CompensationLedger.Cases;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Funds;

/// <summary>
/// Open a pool: the general pool (one per fund), or a perpetrator pool funded by the forfeited fees
/// of one supplier account that a fraud case flagged (one pool per account).
/// </summary>
public sealed record OpenPool(PoolKind Kind, string Name, Guid? CaseId = null, string? Platform = null, string? SupplierAccountId = null);

public static class OpenPoolEndpoint
{
    public static ProblemDetails Validate(OpenPool command)
    {
        var check = new Validation().Text("name", command.Name, Validation.NameLength);
        if (command.Kind == PoolKind.Perpetrator)
        {
            if (command.CaseId is null || command.CaseId == Guid.Empty) check.Add("caseId", "is required for a perpetrator pool.");
            check.Text("platform", command.Platform, Validation.IdentifierLength)
                .Text("supplierAccountId", command.SupplierAccountId, Validation.IdentifierLength);
        }
        else
        {
            if (command.CaseId is not null) check.Add("caseId", "is only for a perpetrator pool.");
            if (command.Platform is not null) check.Add("platform", "is only for a perpetrator pool.");
            if (command.SupplierAccountId is not null) check.Add("supplierAccountId", "is only for a perpetrator pool.");
        }
        return check.ToProblem();
    }

    /// <param name="fraudCase">The case a perpetrator pool names (null when it does not exist, or for the general pool).</param>
    public static Decision Decide(Fund fund, Guid poolId, OpenPool command, FraudCase? fraudCase, string by, Instant now)
    {
        if (command.Kind == PoolKind.General)
        {
            if (fund.GeneralPool is { } existing)
                return Decision.Refuse("general-pool-exists", $"The fund already has its general pool ({existing.Name}, {existing.Id}).");
            return Decision.Accept(new PoolOpened(fund.Id, poolId, PoolKind.General, command.Name.Trim(), null, by, now));
        }

        if (fraudCase is null)
            return new Refusal("case-not-found", $"There is no fraud case with id {command.CaseId}.", StatusCodes.Status404NotFound);
        var platform = fraudCase.CoveredPlatform(command.Platform!);
        var accountId = AccountNumbers.NormaliseSupplierAccount(command.SupplierAccountId!);
        if (platform is null || !fraudCase.IsSupplierFlagged(platform, accountId))
            return Decision.Refuse("supplier-not-flagged",
                $"The case does not flag supplier account {command.Platform!.Trim()}/{accountId}; a perpetrator pool is for a flagged supplier account.");
        var perpetrator = new PerpetratorAccount(fraudCase.Id, platform, accountId);
        if (fund.Pools.Values.FirstOrDefault(p => p.Perpetrator == perpetrator) is { } same)
            return Decision.Refuse("perpetrator-pool-exists", $"Supplier account {platform}/{accountId} already has a pool ({same.Name}, {same.Id}).");
        return Decision.Accept(new PoolOpened(fund.Id, poolId, PoolKind.Perpetrator, command.Name.Trim(), perpetrator, by, now));
    }

    [WolverinePost("/api/funds/{fundId}/pools", Name = "OpenPool")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Fund")]
    [EndpointSummary("Open a pool: general, or for one flagged supplier account")]
    public static async Task<(IResult, Events)> Post(
        OpenPool command,
        [WriteAggregate("fundId", OnMissing = OnMissing.ProblemDetailsWith404)] Fund fund,
        IDocumentSession session,
        ClaimsPrincipal user,
        IClock clock,
        CancellationToken ct)
    {
        var fraudCase = command.CaseId is { } caseId ? await session.LoadAsync<FraudCase>(caseId, ct) : null;
        var now = clock.GetCurrentInstant();
        var poolId = Guid.CreateVersion7();
        return FundResponses.Respond(fund, Decide(fund, poolId, command, fraudCase, user.StaffName(), now),
            updated => TypedResults.Created($"/api/funds/{fund.Id}", PoolView.From(updated, updated.Pools[poolId])));
    }
}
