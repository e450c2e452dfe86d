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
    /// A returned payout is sent again once, for the same amount from the same pools, if those pools
    /// still have it available and the claim is still owed it (a later round may have paid it meanwhile).
    /// </summary>
    public static Decision Decide(Fund fund, Guid payoutId, Guid newPayoutId, ReissuePayout command, string by, Instant now)
    {
        if (!fund.Payouts.TryGetValue(payoutId, out var payout))
            return new Refusal("payout-not-found", $"There is no payout with id {payoutId}.", StatusCodes.Status404NotFound);
        if (payout.Status != PayoutStatus.Returned)
            return Decision.Refuse("payout-not-returned", $"Payout {payout.Reference} is {SettlePayoutEndpoint.Status(payout)}; only a returned payout is reissued.");
        if (payout.ReissuedAs is { } reissue)
            return Decision.Refuse("payout-already-reissued", $"Payout {payout.Reference} was already reissued as {fund.Payouts[reissue].Reference}.");
        var claim = fund.Entitlements[payout.ClaimId];
        if (claim.StillOwed < payout.Amount.Amount)
            return Decision.Refuse("claim-not-owed", $"Claim {claim.ClaimReference} is owed {fund.Money(claim.StillOwed)} now, less than the {payout.Amount} returned.");
        foreach (var line in payout.Lines)
            if (fund.Pools[line.PoolId].Available < line.Amount.Amount)
                return Decision.Refuse("pool-exhausted", $"Pool {fund.Pools[line.PoolId].Name} has {fund.Money(fund.Pools[line.PoolId].Available)} available, less than {line.Amount}.");
        var reissues = 1;
        for (var p = payout; p.ReissueOf is { } previous; p = fund.Payouts[previous]) reissues++;
        var bank = command.BankDetails;
        return Decision.Accept(new PayoutReissued(fund.Id, payoutId, newPayoutId, $"{RootReference(fund, payout)}-R{reissues}", payout.ClaimId, payout.ClaimReference,
            payout.Lines, payout.Amount,
            new BankDetails(bank.AccountHolder.Trim(), Cases.AccountNumbers.NormaliseBankAccount(bank.AccountNumber), bank.BankName?.Trim(),
                bank.Swift?.Trim().ToUpperInvariant(), bank.Country?.Trim().ToUpperInvariant()),
            by, now));
    }

    private static string RootReference(Fund fund, Payout payout)
    {
        while (payout.ReissueOf is { } previous) payout = fund.Payouts[previous];
        return payout.Reference;
    }

    [WolverinePost("/api/payouts/{payoutId}/reissue", Name = "ReissuePayout")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Reissue a returned payout to corrected bank details")]
    public static Task<IResult> Post(ReissuePayout command, Guid payoutId, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct)
    {
        var newPayoutId = Guid.CreateVersion7();
        return FundStreams.Decide(session, payoutId, FundIndexKind.Payout, ct, (fund, now) => Decide(fund, payoutId, newPayoutId, command, user.StaffName(), now),
            clock, updated => TypedResults.Created($"/api/payouts/{newPayoutId}", PayoutView.From(updated, updated.Payouts[newPayoutId])));
    }
}
