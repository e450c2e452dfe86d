using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Funds;

/// <summary>The bank settled a payout (until statements are imported, finance records it).</summary>
public sealed record RecordPayoutSettlement(string? BankReference = null);

public static class SettlePayoutEndpoint
{
    public static ProblemDetails Validate(RecordPayoutSettlement command) =>
        new Validation().Text("bankReference", command.BankReference, Validation.IdentifierLength, required: false).ToProblem();

    public static Decision Decide(Fund fund, Guid payoutId, RecordPayoutSettlement command, string by, Instant now)
    {
        if (!fund.Payouts.TryGetValue(payoutId, out var payout))
            return new Refusal("payout-not-found", $"There is no payout with id {payoutId}.", StatusCodes.Status404NotFound);
        if (payout.Status != PayoutStatus.InTransit)
            return Decision.Refuse("payout-not-in-transit", $"Payout {payout.Reference} is {Status(payout)}; only a payout in transit settles.");
        return Decision.Accept(new PayoutSettled(fund.Id, payoutId, null, payout.Lines, command.BankReference?.Trim(), by, now, payout.PerClaim));
    }

    internal static string Status(Payout payout) => payout.Status switch
    {
        PayoutStatus.InTransit => "in transit",
        PayoutStatus.Settled => "settled",
        _ => "returned",
    };

    [WolverinePost("/api/payouts/{payoutId}/settlement", Name = "SettlePayout")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Record that the bank settled a payout")]
    public static Task<IResult> Post(RecordPayoutSettlement command, Guid payoutId, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct) =>
        FundStreams.Decide(session, payoutId, FundIndexKind.Payout, ct, (fund, now) => Decide(fund, payoutId, command, user.StaffName(), now),
            clock, updated => TypedResults.Ok(PayoutView.From(updated, updated.Payouts[payoutId])));
}
