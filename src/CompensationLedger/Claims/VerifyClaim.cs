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

namespace CompensationLedger.Claims;

/// <summary>Run the checks against the case. The body is empty (<c>{}</c>); it may be run again, e.g. after investigators flag more accounts.</summary>
public sealed record VerifyClaim;

public static class VerifyClaimEndpoint
{
    /// <summary>
    /// Each check of DOMAIN.md, with its evidence. The result: ineligible when the fund can never pay
    /// (platform outside the case or the fund, filed late, duplicate, invalid amount, or nothing ties the
    /// order to the ring: neither the supplier nor the account paid is flagged); needs review when the
    /// link is partial (only one of supplier and beneficiary account flagged, the other known and not) or
    /// the payment falls outside the case's active period; eligible otherwise.
    /// </summary>
    public static Decision Decide(Claim claim, FraudCase fraudCase, IReadOnlyList<ClaimFingerprint> fingerprints, string verifier, Instant now)
    {
        if (claim.Status is not (ClaimStatus.Filed or ClaimStatus.VerifiedEligible or ClaimStatus.VerifiedIneligible or ClaimStatus.NeedsReview))
            return ClaimRules.Illegal(claim, "verified");

        var checks = Checks(claim, fraudCase, fingerprints).ToArray();
        CheckOutcome Outcome(ClaimCheck check) => checks.First(c => c.Check == check).Outcome;

        var ineligible = checks
            .Where(c => c.Outcome == CheckOutcome.Failed && c.Check is ClaimCheck.PlatformCoveredByCase or ClaimCheck.PlatformEligibleForFund
                or ClaimCheck.FiledWithinWindow or ClaimCheck.NotDuplicate or ClaimCheck.AmountValid)
            .Select(c => c.Check).ToList();
        var supplier = Outcome(ClaimCheck.SupplierAccountFlagged);
        var beneficiary = Outcome(ClaimCheck.BeneficiaryAccountFlagged);
        if (supplier != CheckOutcome.Passed && beneficiary != CheckOutcome.Passed)
        {
            ineligible.Add(ClaimCheck.SupplierAccountFlagged);
            if (beneficiary == CheckOutcome.Failed) ineligible.Add(ClaimCheck.BeneficiaryAccountFlagged);
        }

        var review = new List<ClaimCheck>();
        if (supplier == CheckOutcome.Failed && beneficiary == CheckOutcome.Passed) review.Add(ClaimCheck.SupplierAccountFlagged);
        if (supplier == CheckOutcome.Passed && beneficiary == CheckOutcome.Failed) review.Add(ClaimCheck.BeneficiaryAccountFlagged);
        if (Outcome(ClaimCheck.PaymentWithinCasePeriod) == CheckOutcome.Failed) review.Add(ClaimCheck.PaymentWithinCasePeriod);

        var (result, reasons) = ineligible.Count > 0 ? (VerificationResult.VerifiedIneligible, ineligible)
            : review.Count > 0 ? (VerificationResult.NeedsReview, review)
            : (VerificationResult.VerifiedEligible, new List<ClaimCheck>());
        return Decision.Accept(new ClaimVerified(claim.Id, result, checks, reasons, verifier, now));
    }

    public static IEnumerable<CheckRecord> Checks(Claim claim, FraudCase fraudCase, IReadOnlyList<ClaimFingerprint> fingerprints)
    {
        var platform = fraudCase.CoveredPlatform(claim.Platform);
        yield return platform is not null
            ? new CheckRecord(ClaimCheck.PlatformCoveredByCase, CheckOutcome.Passed, $"The case covers {platform}.")
            : new CheckRecord(ClaimCheck.PlatformCoveredByCase, CheckOutcome.Failed,
                $"The case does not cover {claim.Platform}; it covers {string.Join(", ", fraudCase.Platforms)}.");

        yield return platform is null
            ? new CheckRecord(ClaimCheck.PlatformEligibleForFund, CheckOutcome.NotApplicable, "The platform is not covered by the case.")
            : claim.Policy.IsPlatformEligible(platform)
                ? new CheckRecord(ClaimCheck.PlatformEligibleForFund, CheckOutcome.Passed,
                    claim.Policy.EligiblePlatforms.Count == 0 ? "The fund pays buyers on every platform of the case." : $"The fund pays buyers on {platform}.")
                : new CheckRecord(ClaimCheck.PlatformEligibleForFund, CheckOutcome.Failed,
                    $"Policy {claim.Policy.Version} pays buyers on {string.Join(", ", claim.Policy.EligiblePlatforms)} only; the loss still counts in the case's losses.");

        var supplier = fraudCase.SupplierAccounts.FirstOrDefault(a => a.AccountId == claim.SupplierAccount
            && string.Equals(a.Platform, claim.Platform, StringComparison.OrdinalIgnoreCase));
        var elsewhere = fraudCase.SupplierAccounts.FirstOrDefault(a => a.AccountId == claim.SupplierAccount);
        yield return supplier is not null
            ? new CheckRecord(ClaimCheck.SupplierAccountFlagged, CheckOutcome.Passed, $"Flagged supplier account {supplier.Platform}/{supplier.AccountId} ({supplier.DisplayName}).")
            : new CheckRecord(ClaimCheck.SupplierAccountFlagged, CheckOutcome.Failed, elsewhere is not null
                ? $"{claim.SupplierAccount} is flagged on {elsewhere.Platform}, not on {claim.Platform}."
                : $"{claim.Platform}/{claim.SupplierAccount} is not among the case's {fraudCase.SupplierAccounts.Count} flagged supplier accounts.");

        if (claim.BeneficiaryAccount is null)
            yield return new CheckRecord(ClaimCheck.BeneficiaryAccountFlagged, CheckOutcome.NotApplicable, "The buyer did not give the account paid.");
        else
        {
            var account = fraudCase.BankAccounts.FirstOrDefault(a => a.AccountNumber == claim.BeneficiaryAccount);
            yield return account is not null
                ? new CheckRecord(ClaimCheck.BeneficiaryAccountFlagged, CheckOutcome.Passed,
                    $"The buyer paid flagged account {AccountNumbers.Mask(account.AccountNumber)}{(account.BankName is null ? "" : $" at {account.BankName}")}: strong corroboration.")
                : new CheckRecord(ClaimCheck.BeneficiaryAccountFlagged, CheckOutcome.Failed,
                    $"Account {AccountNumbers.Mask(claim.BeneficiaryAccount)} is not among the case's {fraudCase.BankAccounts.Count} flagged accounts.");
        }

        yield return claim.PaymentDate >= fraudCase.ActiveFrom && claim.PaymentDate <= fraudCase.ActiveTo
            ? new CheckRecord(ClaimCheck.PaymentWithinCasePeriod, CheckOutcome.Passed, $"Paid {claim.PaymentDate:yyyy-MM-dd}, within {fraudCase.ActiveFrom:yyyy-MM-dd} to {fraudCase.ActiveTo:yyyy-MM-dd}.")
            : new CheckRecord(ClaimCheck.PaymentWithinCasePeriod, CheckOutcome.Failed, $"Paid {claim.PaymentDate:yyyy-MM-dd}, outside {fraudCase.ActiveFrom:yyyy-MM-dd} to {fraudCase.ActiveTo:yyyy-MM-dd}.");

        var lastDay = claim.Policy.LastFilingDay(claim.PaymentDate);
        var filedOn = claim.FiledAt.InUtc().Date;
        yield return filedOn <= lastDay
            ? new CheckRecord(ClaimCheck.FiledWithinWindow, CheckOutcome.Passed, $"Filed {filedOn:yyyy-MM-dd}; the window closed {lastDay:yyyy-MM-dd}.")
            : new CheckRecord(ClaimCheck.FiledWithinWindow, CheckOutcome.Failed, $"Filed {filedOn:yyyy-MM-dd}, after the window closed {lastDay:yyyy-MM-dd}.");

        var payment = fingerprints.FirstOrDefault(f => f.Kind == ClaimFingerprints.PaymentReference);
        yield return payment is null
            ? new CheckRecord(ClaimCheck.NotDuplicate, CheckOutcome.Failed, "The claim does not hold its payment's fingerprint: another claim may cover this payment.")
            : payment.ClaimId == claim.Id
                ? new CheckRecord(ClaimCheck.NotDuplicate, CheckOutcome.Passed, "No other claim has this payment reference or this buyer, supplier, amount and payment date (enforced by a unique key at filing).")
                : new CheckRecord(ClaimCheck.NotDuplicate, CheckOutcome.Failed, $"Claim {payment.Reference} already covers this payment.");

        yield return claim.AmountPaid.Amount > 0m && Currencies.IsKnown(claim.AmountPaid.Currency)
            ? new CheckRecord(ClaimCheck.AmountValid, CheckOutcome.Passed, $"{claim.AmountPaid} is positive and in a known currency.")
            : new CheckRecord(ClaimCheck.AmountValid, CheckOutcome.Failed, $"{claim.AmountPaid} is not a positive amount in a known currency.");
    }

    [WolverinePost("/api/claims/{claimId}/verification", Name = "VerifyClaim")]
    [Authorize(Roles = Roles.ClaimsHandler)]
    [Tags("Claims")]
    [RequiresExpectedVersion]
    [ProducesResponseType<Claim>(StatusCodes.Status200OK)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status412PreconditionFailed, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status428PreconditionRequired, "application/problem+json")]
    [EndpointSummary("Verify a claim against its case (send If-Match: \"<version>\"); the result lists each check with its outcome and evidence")]
    public static async Task<(IResult, Events)> Post(
        VerifyClaim command,
        [WriteAggregate("claimId", OnMissing = OnMissing.ProblemDetailsWith404)] Claim claim,
        IDocumentSession session,
        HttpRequest request,
        ClaimsPrincipal user,
        IClock clock,
        CancellationToken ct)
    {
        if (ClaimVersions.Check(request, claim) is { } stale) return (stale.ToResult(), []);
        var fraudCase = await session.LoadAsync<FraudCase>(claim.CaseId, ct)
            ?? throw new InvalidOperationException($"Claim {claim.Id} names case {claim.CaseId}, which does not exist.");
        var fingerprints = await session.Query<ClaimFingerprint>().Where(f => f.ClaimId == claim.Id).ToListAsync(ct);
        return ClaimResponses.Respond(claim, Decide(claim, fraudCase, fingerprints, user.StaffName(), clock.GetCurrentInstant()), request.HttpContext.Response);
    }
}
