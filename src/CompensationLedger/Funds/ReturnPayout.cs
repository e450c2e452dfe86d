using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Funds;

/// <summary>The bank returned a payout.</summary>
public sealed record RecordPayoutReturn(string Reason);

public static class ReturnPayoutEndpoint
{
    public static ProblemDetails Validate(RecordPayoutReturn command) =>
        new Validation().Text("reason", command.Reason, Validation.TextLength).ToProblem();

    /// <summary>A returned payout's money goes back to the available balance of the pools it came from, and each of its claims is owed its part again.</summary>
    public static Decision Decide(Fund fund, Guid payoutId, RecordPayoutReturn command, string by, Instant now)
    {
        if (!fund.Payouts.TryGetValue(payoutId, out var payout))
            return new Refusal("payout-not-found", $"There is no payout with id {payoutId}.", StatusCodes.Status404NotFound);
        if (payout.Status != PayoutStatus.InTransit)
            return Decision.Refuse("payout-not-in-transit", $"Payout {payout.Reference} is {SettlePayoutEndpoint.Status(payout)}; only a payout in transit can be returned.");
        return Decision.Accept(new PayoutReturned(fund.Id, payoutId, null, payout.Lines, command.Reason.Trim(), by, now, payout.PerClaim));
    }

    [WolverinePost("/api/payouts/{payoutId}/return", Name = "ReturnPayout")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Record that the bank returned a payout")]
    public static Task<IResult> Post(RecordPayoutReturn command, Guid payoutId, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct) =>
        FundStreams.Decide(session, payoutId, FundIndexKind.Payout, ct, (fund, now) => Decide(fund, payoutId, command, user.StaffName(), now),
            clock, updated => TypedResults.Ok(PayoutView.From(updated, updated.Payouts[payoutId])));
}
