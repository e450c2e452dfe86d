using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Funds;

/// <summary>Withdraw a prepared round: its money goes back to the pools' available balance.</summary>
public sealed record CancelRound(string Reason);

public static class CancelRoundEndpoint
{
    public static ProblemDetails Validate(CancelRound command) =>
        new Validation().Text("reason", command.Reason, Validation.TextLength).ToProblem();

    public static Decision Decide(Fund fund, Guid roundId, CancelRound command, string by, Instant now)
    {
        if (!fund.Rounds.TryGetValue(roundId, out var round))
            return new Refusal("round-not-found", $"There is no round with id {roundId}.", StatusCodes.Status404NotFound);
        if (round.Status != RoundStatus.Prepared)
            return Decision.Refuse("round-not-prepared", $"Round {round.Number} is {round.Status.ToString().ToLowerInvariant()}; only a prepared round can be cancelled.");
        return Decision.Accept(new RoundCancelled(fund.Id, roundId, round.Allocations, command.Reason.Trim(), by, now));
    }

    [WolverinePost("/api/rounds/{roundId}/cancellation", Name = "CancelRound")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Cancel a prepared round; its money becomes available again")]
    public static async Task<IResult> Post(CancelRound command, Guid roundId, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct) =>
        await FundStreams.Decide(session, roundId, FundIndexKind.Round, ct, (fund, now) => Decide(fund, roundId, command, user.StaffName(), now),
            clock, updated => TypedResults.Ok(RoundView.From(updated, updated.Rounds[roundId])));
}
