using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Funds;

/// <summary>Send a returned payout again to corrected bank details.</summary>
public sealed record ReissuePayout(BankDetails BankDetails);

public static class ReissuePayoutEndpoint
{
    public static ProblemDetails Validate(ReissuePayout command)
    {
        var check = new Validation();
        if (command.BankDetails is null) return check.Add("bankDetails", "is required.").ToProblem();
        return check
            .Text("bankDetails.accountHolder", command.BankDetails.AccountHolder, Validation.NameLength)
            .Text("bankDetails.accountNumber", command.BankDetails.AccountNumber, Validation.IdentifierLength)
            .Text("bankDetails.bankName", command.BankDetails.BankName, Validation.NameLength, required: false)
            .Text("bankDetails.swift", command.BankDetails.Swift, 11, required: false)
            .Text("bankDetails.country", command.BankDetails.Country, 2, required: false)
            .ToProblem();
    }

    /// <summary>
    /// Step one of two (four eyes: new bank details are where fraud happens): a finance user prepares the
    /// reissue of a returned payout to corrected bank details. Nothing moves yet; another finance user
    /// approves it (<see cref="ApproveReissueEndpoint"/>). The money checks run here too, so a reissue that
    /// could not be approved is refused now, and again at approval (a round may have used the money meanwhile).
    /// A prepared reissue is not replaced: the approver approves exactly the details that were prepared.
    /// </summary>
    public static Decision Decide(Fund fund, Guid payoutId, ReissuePayout command, string by, Instant now)
    {
        if (Reissuable(fund, payoutId, now) is { } refused) return refused;
        var payout = fund.Payouts[payoutId];
        if (payout.PendingReissue is { } pending)
            return Decision.Refuse("reissue-already-prepared", $"{pending.PreparedBy} already prepared the reissue of payout {payout.Reference}; another finance user approves it.");
        var bank = command.BankDetails;
        return Decision.Accept(new PayoutReissuePrepared(fund.Id, payoutId,
            new BankDetails(bank.AccountHolder.Trim(), Cases.AccountNumbers.NormaliseBankAccount(bank.AccountNumber), bank.BankName?.Trim(),
                bank.Swift?.Trim().ToUpperInvariant(), bank.Country?.Trim().ToUpperInvariant()),
            by, now));
    }

    /// <summary>
    /// A returned payout is sent again once, for the same amounts from the same pools to the same claims, if
    /// those pools still have it available, each claim is still owed its part (a later round may have paid it
    /// meanwhile), and the buyer stays within the policy's cap per buyer.
    /// </summary>
    public static Refusal? Reissuable(Fund fund, Guid payoutId, Instant now)
    {
        if (!fund.Payouts.TryGetValue(payoutId, out var payout))
            return new Refusal("payout-not-found", $"There is no payout with id {payoutId}.", StatusCodes.Status404NotFound);
        if (payout.Status != PayoutStatus.Returned)
            return new Refusal("payout-not-returned", $"Payout {payout.Reference} is {SettlePayoutEndpoint.Status(payout)}; only a returned payout is reissued.");
        if (payout.ReissuedAs is { } reissue)
            return new Refusal("payout-already-reissued", $"Payout {payout.Reference} was already reissued as {fund.Payouts[reissue].Reference}.");
        foreach (var (claimId, amount) in PayoutLines.PerClaim(payout.PerClaim))
        {
            var claim = fund.Entitlements[claimId];
            if (claim.StillOwed < amount)
                return new Refusal("claim-not-owed", $"Claim {claim.ClaimReference} is owed {fund.Money(claim.StillOwed)} now, less than the {fund.Money(amount)} returned.");
        }
        foreach (var line in payout.Lines)
            if (fund.Pools[line.PoolId].Available < line.Amount.Amount)
                return new Refusal("pool-exhausted", $"Pool {fund.Pools[line.PoolId].Name} has {fund.Money(fund.Pools[line.PoolId].Available)} available, less than {line.Amount}.");
        var first = fund.Entitlements[payout.PerClaim[0].ClaimId];
        if (BuyerCap.Room(fund, first.Payee, fund.PolicyInForce(now)) is { } room && room < payout.Amount.Amount)
            return new Refusal("buyer-cap-reached", $"The buyer of payout {payout.Reference} can be paid {fund.Money(room)} more under the cap per buyer, less than the {payout.Amount} returned.");
        return null;
    }

    public static string RootReference(Fund fund, Payout payout)
    {
        while (payout.ReissueOf is { } previous) payout = fund.Payouts[previous];
        return payout.Reference;
    }

    [WolverinePost("/api/payouts/{payoutId}/reissue", Name = "ReissuePayout")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Prepare the reissue of a returned payout to corrected bank details (another finance user approves it)")]
    public static Task<IResult> Post(ReissuePayout command, Guid payoutId, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct) =>
        FundStreams.Decide(session, payoutId, FundIndexKind.Payout, ct, (fund, now) => Decide(fund, payoutId, command, user.StaffName(), now),
            clock, updated => TypedResults.Accepted($"/api/payouts/{payoutId}", PayoutView.From(updated, updated.Payouts[payoutId])),
            fund => FundRows.WithPayoutAndBuyersAsync(session, fund, payoutId, ct));
}

/// <summary>Approve a prepared reissue (the body may be empty, <c>{}</c>).</summary>
public sealed record ApproveReissue(string? Note = null);

public static class ApproveReissueEndpoint
{
    public static ProblemDetails Validate(ApproveReissue command) =>
        new Validation().Text("note", command.Note, Validation.TextLength, required: false).ToProblem();

    /// <summary>
    /// Step two: another finance user than the one who prepared it approves the reissue, and the payout leaves
    /// for the bank with a new reference (<c>{original}-R{n}</c>), carrying the same claim and pool lines.
    /// </summary>
    public static Decision Decide(Fund fund, Guid payoutId, Guid newPayoutId, string by, Instant now)
    {
        if (ReissuePayoutEndpoint.Reissuable(fund, payoutId, now) is { } refused) return refused;
        var payout = fund.Payouts[payoutId];
        if (payout.PendingReissue is not { } pending)
            return Decision.Refuse("reissue-not-prepared", $"No reissue of payout {payout.Reference} is prepared; prepare it first (POST /api/payouts/{payoutId}/reissue).");
        if (string.Equals(pending.PreparedBy, by, StringComparison.OrdinalIgnoreCase))
            return Decision.Refuse("four-eyes", $"{by} prepared the reissue of payout {payout.Reference}; another finance user must approve it.");
        var reissues = 1;
        for (var p = payout; p.ReissueOf is { } previous; p = fund.Payouts[previous]) reissues++;
        return Decision.Accept(new PayoutReissued(fund.Id, payoutId, newPayoutId, $"{ReissuePayoutEndpoint.RootReference(fund, payout)}-R{reissues}", null, null,
            payout.Lines, payout.Amount, pending.BankDetails, by, now, payout.PerClaim, payout.BuyerKey, pending.PreparedBy));
    }

    [WolverinePost("/api/payouts/{payoutId}/reissue/approval", Name = "ApproveReissue")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Approve a prepared reissue (not by the one who prepared it): the payout leaves again to the corrected bank details")]
    public static Task<IResult> Post(ApproveReissue command, Guid payoutId, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct)
    {
        var newPayoutId = Guid.CreateVersion7();
        return FundStreams.Decide(session, payoutId, FundIndexKind.Payout, ct, (fund, now) => Decide(fund, payoutId, newPayoutId, user.StaffName(), now),
            clock, updated => TypedResults.Created($"/api/payouts/{newPayoutId}", PayoutView.From(updated, updated.Payouts[newPayoutId])),
            fund => FundRows.WithPayoutAndBuyersAsync(session, fund, payoutId, ct));
    }
}
