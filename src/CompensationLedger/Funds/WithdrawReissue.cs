using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Marten;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Funds;

/// <summary>Withdraw a prepared reissue, saying why (e.g. the corrected details are wrong too).</summary>
public sealed record WithdrawReissue(string Reason);

/// <summary>
/// A prepared reissue waits for a second finance user; if its details are wrong, or the second user will not approve
/// them, it must not block the buyer's payment for ever (a second preparation is refused while one waits). Any finance
/// user may withdraw it, the preparer included: nothing has moved, so no second pair of eyes is needed to undo it, and
/// the next preparation goes through four eyes again.
/// </summary>
public static class WithdrawReissueEndpoint
{
    public static ProblemDetails Validate(WithdrawReissue command) =>
        new Validation().Text("reason", command.Reason, Validation.TextLength).ToProblem();

    public static Decision Decide(Fund fund, Guid payoutId, WithdrawReissue command, string by, Instant now)
    {
        if (!fund.Payouts.TryGetValue(payoutId, out var payout))
            return new Refusal("payout-not-found", $"There is no payout with id {payoutId}.", StatusCodes.Status404NotFound);
        if (payout.PendingReissue is null)
            return Decision.Refuse("reissue-not-prepared", $"No reissue of payout {payout.Reference} is waiting for approval.");
        return Decision.Accept(new PayoutReissueWithdrawn(fund.Id, payoutId, command.Reason.Trim(), by, now));
    }

    [WolverinePost("/api/payouts/{payoutId}/reissue/withdrawal", Name = "WithdrawReissue")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Withdraw a reissue prepared but not yet approved (nothing has moved); the payout can then be prepared again")]
    public static Task<IResult> Post(WithdrawReissue command, Guid payoutId, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct) =>
        FundStreams.Decide(session, payoutId, FundIndexKind.Payout, ct, (fund, now) => Decide(fund, payoutId, command, user.StaffName(), now),
            clock, updated => TypedResults.Ok(PayoutView.From(updated, updated.Payouts[payoutId])));
}
