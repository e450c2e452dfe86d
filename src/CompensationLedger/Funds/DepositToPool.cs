using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Funds;

/// <summary>Record money that arrived in a pool. The bank reference identifies the deposit: sending it again changes nothing.</summary>
public sealed record DepositToPool(Money Amount, string BankReference, LocalDate ValueDate);

/// <summary>The pool after a deposit; <c>Duplicate</c> says the bank reference was already recorded and nothing changed.</summary>
public sealed record DepositResult(bool Duplicate, PoolView Pool);

public static class DepositToPoolEndpoint
{
    public static ProblemDetails Validate(DepositToPool command) =>
        new Validation()
            .Money("amount", command.Amount)
            .Text("bankReference", command.BankReference, Validation.IdentifierLength)
            .ToProblem();

    /// <summary>
    /// Bank references are unique within the fund: the same reference for the same pool and amount is
    /// the same deposit sent twice (no events); with another pool or amount it is a conflict.
    /// </summary>
    public static Decision Decide(Fund fund, Guid poolId, DepositToPool command, string by, Instant now)
    {
        if (!fund.Pools.TryGetValue(poolId, out _))
            return new Refusal("pool-not-found", $"The fund has no pool with id {poolId}.", StatusCodes.Status404NotFound);
        if (command.Amount.Currency != fund.Currency)
            return new Refusal("currency-mismatch", $"Deposits are in the fund's currency, {fund.Currency}.", StatusCodes.Status400BadRequest);
        var reference = command.BankReference.Trim();
        if (fund.DepositsByBankReference.TryGetValue(reference, out var depositedTo))
        {
            var sameDeposit = depositedTo.PoolId == poolId && depositedTo.Amount == command.Amount.Amount;
            return sameDeposit
                ? Decision.Accept()
                : Decision.Refuse("bank-reference-used", $"Bank reference {reference} is already recorded as another deposit.");
        }
        return Decision.Accept(new PoolDeposited(fund.Id, poolId, command.Amount, reference, command.ValueDate, by, now));
    }

    [WolverinePost("/api/funds/{fundId}/pools/{poolId}/deposits", Name = "DepositToPool")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Fund")]
    [EndpointSummary("Record a deposit into a pool (idempotent by bank reference)")]
    public static (IResult, Events) Post(
        DepositToPool command,
        Guid poolId,
        [WriteAggregate("fundId", OnMissing = OnMissing.ProblemDetailsWith404)] Fund fund,
        ClaimsPrincipal user,
        IClock clock)
    {
        if (command.Amount.Currency != fund.Currency)
            return (Problems.Invalid("amount.currency", $"must be the fund's currency, {fund.Currency}.").ToResult(), []);
        var decision = Decide(fund, poolId, command, user.StaffName(), clock.GetCurrentInstant());
        return FundResponses.Respond(fund, decision, updated => decision.Events.Count == 0
            ? TypedResults.Ok(new DepositResult(true, PoolView.From(updated, updated.Pools[poolId])))
            : TypedResults.Created($"/api/funds/{fund.Id}", new DepositResult(false, PoolView.From(updated, updated.Pools[poolId]))));
    }
}
