using System.Security.Claims;
using CompensationLedger.Cases;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Claims;

/// <summary>File a buyer's claim for one order paid to the ring (a handler, on the buyer's behalf).</summary>
/// <param name="SupplierAccount">The supplier account id on the platform, as the buyer knows it.</param>
/// <param name="BeneficiaryAccount">The bank account or card the buyer paid, when known (strong corroboration if flagged).</param>
public sealed record FileClaim(
    Guid CaseId,
    ClaimantBuyer Buyer,
    string Platform,
    string SupplierAccount,
    string OrderReference,
    LocalDate OrderDate,
    LocalDate PaymentDate,
    Money AmountPaid,
    string PaymentReference,
    string GoodsDescription,
    string? BeneficiaryAccount = null,
    IReadOnlyList<EvidenceDocument>? Evidence = null);

/// <param name="Country">ISO 3166-1 alpha-2.</param>
public sealed record ClaimantBuyer(string Name, string Country, string Email, string? Company = null, string? Phone = null, string? Address = null);

/// <summary>The answer to a filing: the access code is shown here once and never again.</summary>
public sealed record ClaimFiledResponse(Guid Id, string Reference, string AccessCode, Claim Claim);

public static class FileClaimEndpoint
{
    public const int MaxEvidence = 50;
    public const int EmailLength = 254;
    public const int PhoneLength = 40;

    public static ProblemDetails Validate(FileClaim command)
    {
        var check = new Validation();
        if (command.CaseId == Guid.Empty) check.Add("caseId", "is required.");
        if (command.Buyer is null) check.Add("buyer", "is required.");
        else
        {
            check.Text("buyer.name", command.Buyer.Name, Validation.NameLength)
                .Text("buyer.company", command.Buyer.Company, Validation.NameLength, required: false)
                .Text("buyer.email", command.Buyer.Email, EmailLength)
                .Text("buyer.phone", command.Buyer.Phone, PhoneLength, required: false)
                .Text("buyer.address", command.Buyer.Address, Validation.NameLength * 2, required: false);
            if (!Countries.IsIsoAlpha2(command.Buyer.Country)) check.Add("buyer.country", "must be an ISO 3166-1 alpha-2 code such as US or DE.");
            if (command.Buyer.Email is { } email && !string.IsNullOrWhiteSpace(email) && (email.IndexOf('@', StringComparison.Ordinal) is <= 0 || email.Trim().EndsWith('@') || email.Any(char.IsWhiteSpace)))
                check.Add("buyer.email", "must be an e-mail address.");
        }
        check.Text("platform", command.Platform, Validation.IdentifierLength)
            .Text("supplierAccount", command.SupplierAccount, Validation.IdentifierLength)
            .Text("orderReference", command.OrderReference, Validation.IdentifierLength)
            .Text("paymentReference", command.PaymentReference, Validation.IdentifierLength)
            .Text("goodsDescription", command.GoodsDescription, Validation.TextLength)
            .Text("beneficiaryAccount", command.BeneficiaryAccount, 64, required: false)
            .Money("amountPaid", command.AmountPaid);
        if (!string.IsNullOrWhiteSpace(command.PaymentReference) && AccountNumbers.NormaliseBankAccount(command.PaymentReference).Length == 0)
            check.Add("paymentReference", "must contain letters or digits.");
        if (!string.IsNullOrWhiteSpace(command.BeneficiaryAccount) && !AccountNumbers.IsPlausibleBankAccount(AccountNumbers.NormaliseBankAccount(command.BeneficiaryAccount)))
            check.Add("beneficiaryAccount", "must have 6 to 34 letters or digits (spaces and dashes are ignored).");
        if (command.PaymentDate < command.OrderDate.PlusDays(-366)) check.Add("paymentDate", "is implausibly long before orderDate.");
        ValidateEvidence(check, "evidence", command.Evidence);
        return check.ToProblem();
    }

    public static void ValidateEvidence(Validation check, string field, IReadOnlyList<EvidenceDocument>? evidence)
    {
        if (evidence is null) return;
        if (evidence.Count > MaxEvidence) check.Add(field, $"must list at most {MaxEvidence} documents.");
        for (var i = 0; i < evidence.Count; i++)
        {
            if (evidence[i] is not { } document)
            {
                check.Add($"{field}[{i}]", "is required.");
                continue;
            }
            check.Text($"{field}[{i}].name", document.Name, Validation.NameLength);
            if (document.Sha256 is not { Length: 64 } hash || !hash.All(char.IsAsciiHexDigit))
                check.Add($"{field}[{i}].sha256", "must be the document's SHA-256 as 64 hexadecimal characters.");
        }
    }

    /// <summary>
    /// Filing refuses what can never be paid and must not be recorded twice: a payment outside the filing
    /// window, a payment dated in the future, and a duplicate (refused with the existing claim's reference,
    /// so the handler can find it). Everything else about eligibility is verification's job.
    /// </summary>
    public static Decision Decide(Guid claimId, string reference, FileClaim command, FraudCase fraudCase, PolicyTerms policy,
        ClaimFingerprint? duplicateOf, string handler, Instant now)
    {
        var today = now.InUtc().Date;
        if (command.PaymentDate > today || command.OrderDate > today)
            return Decision.Refuse("date-in-future", $"The order and payment dates must not be after today ({today:yyyy-MM-dd}).");
        var lastDay = policy.LastFilingDay(command.PaymentDate);
        if (today > lastDay)
            return Decision.Refuse("filing-window-closed",
                $"A claim must be filed within {policy.FilingWindowDays} days of the payment: the last day for a payment on {command.PaymentDate:yyyy-MM-dd} was {lastDay:yyyy-MM-dd}.",
                new Dictionary<string, object?> { ["lastFilingDay"] = lastDay.ToString("yyyy-MM-dd", null) });
        if (duplicateOf is not null)
            return Duplicate(duplicateOf);

        return Decision.Accept(new ClaimFiled(
            claimId, fraudCase.Id, reference, command.Buyer.Country.ToUpperInvariant(),
            fraudCase.CoveredPlatform(command.Platform) ?? command.Platform.Trim(),
            AccountNumbers.NormaliseSupplierAccount(command.SupplierAccount),
            command.OrderReference.Trim(), command.OrderDate, command.PaymentDate, command.AmountPaid,
            command.PaymentReference.Trim(),
            string.IsNullOrWhiteSpace(command.BeneficiaryAccount) ? null : AccountNumbers.NormaliseBankAccount(command.BeneficiaryAccount),
            command.GoodsDescription.Trim(),
            (command.Evidence ?? []).Select(d => new EvidenceDocument(d.Name.Trim(), d.Sha256.ToLowerInvariant())).ToArray(),
            policy, handler, now, ClaimFingerprints.BuyerKey(command.Buyer.Name, command.Buyer.Country, command.Buyer.Email)));
    }

    public static Refusal Duplicate(ClaimFingerprint existing) =>
        new("duplicate-claim",
            existing.Kind == ClaimFingerprints.PaymentReference
                ? $"This payment is already claimed by {existing.Reference} (same payment reference)."
                : $"This payment is already claimed by {existing.Reference} (same buyer, supplier, amount and payment date).",
            Facts: new Dictionary<string, object?> { ["existingReference"] = existing.Reference, ["existingClaimId"] = existing.ClaimId, ["matchedOn"] = existing.Kind });

    public static IReadOnlyList<ClaimFingerprint> Fingerprints(FileClaim command, Guid claimId, string reference) =>
        ClaimFingerprints.For(command.PaymentReference, command.Buyer.Name, command.Buyer.Country, command.SupplierAccount, command.AmountPaid, command.PaymentDate)
            .Select(f => new ClaimFingerprint(f.Id, f.Kind, claimId, reference)).ToArray();

    public static BuyerDetails Buyer(Guid claimId, ClaimantBuyer buyer) =>
        new(claimId, buyer.Name.Trim(), string.IsNullOrWhiteSpace(buyer.Company) ? null : buyer.Company.Trim(), buyer.Country.ToUpperInvariant(),
            buyer.Email.Trim(), string.IsNullOrWhiteSpace(buyer.Phone) ? null : buyer.Phone.Trim(),
            string.IsNullOrWhiteSpace(buyer.Address) ? null : buyer.Address.Trim());

    /// <summary>Everything a filing writes, in one session (one transaction): the stream, the fingerprints, the buyer, the access hash.</summary>
    public static void Record(IDocumentSession session, ClaimFiled filed, FileClaim command, string accessCode)
    {
        session.Events.StartStream<Claim>(filed.ClaimId, filed);
        session.InsertObjects(Documents(filed, command, accessCode));
    }

    /// <summary>What a filing stores beside its event: the duplicate fingerprints, the buyer's personal data, the access-code hash.</summary>
    public static IEnumerable<object> Documents(ClaimFiled filed, FileClaim command, string accessCode)
    {
        foreach (var fingerprint in Fingerprints(command, filed.ClaimId, filed.Reference)) yield return fingerprint;
        yield return Buyer(filed.ClaimId, command.Buyer);
        yield return Access(filed, accessCode);
    }

    /// <summary>The hash of the buyer's access code, kept for the status lookup (the code itself is shown once).</summary>
    public static ClaimAccess Access(ClaimFiled filed, string accessCode) => new(filed.ClaimId, filed.Reference, AccessCodes.Hash(accessCode));

    [WolverinePost("/api/claims", Name = "FileClaim")]
    [Authorize(Roles = Roles.ClaimsHandler)]
    [IdempotentInTransaction]
    [Tags("Claims")]
    [ProducesResponseType<ClaimFiledResponse>(StatusCodes.Status201Created)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [EndpointSummary("File a buyer's claim; 201 with the reference and the buyer's access code (shown once). A duplicate payment is refused (409 with the existing reference)")]
    public static async Task<IResult> Post(FileClaim command, IDocumentSession session, IDocumentStore store, ClaimPolicySettings policy,
        ClaimsPrincipal user, IClock clock, HttpResponse response, CancellationToken ct)
    {
        var claimId = Guid.CreateVersion7();
        var now = clock.GetCurrentInstant();
        var fingerprintIds = Fingerprints(command, claimId, "").Select(f => f.Id).ToArray();

        // Everything the decision reads, in one round trip (issue #7: four separate reads, one on a connection of its own,
        // were most of a filing's round trips). A reference number is taken, as before, only when the case exists and
        // no fingerprint matches; gaps from later refusals are harmless.
        var reads = session.CreateBatchQuery();
        var fraudCaseRead = reads.Load<FraudCase>(command.CaseId);
        var existingRead = reads.LoadMany<ClaimFingerprint>().ById(fingerprintIds);
        var fundRead = Funds.CaseCoverages.TermsOf(reads, store, command.CaseId); // the covering fund's terms, not the whole fund
        var numberRead = reads.Query<ClaimReferences.ReferenceNumber>(ClaimReferences.NextNumberUnlessTakenSql(store), command.CaseId, fingerprintIds);
        await reads.Execute(ct);

        var fraudCase = await fraudCaseRead;
        if (fraudCase is null) return Problems.NotFound("Fraud case", command.CaseId).ToResult();
        var existing = (await existingRead).FirstOrDefault();
        // No number with no match seen: a duplicate committed between the batch's statements; take one as before and let
        // the fingerprint's key refuse the save, as for any filing racing a duplicate.
        var reference = existing is null
            ? ClaimReferences.Format(now.InUtc().Year, (await numberRead).FirstOrDefault()?.Number ?? await ClaimReferences.NextNumberAsync(store, ct))
            : "";
        var terms = ClaimPolicies.For(await fundRead, policy, now);
        var decision = Decide(claimId, reference, command, fraudCase, terms, existing, user.StaffName(), now);
        if (decision.Refusal is { } refusal) return refusal.ToProblem().ToResult();

        var filed = (ClaimFiled)decision.Events[0];
        var accessCode = AccessCodes.New();
        var location = $"/api/claims/{claimId}";
        // An Idempotency-Key's row commits with the claim, or neither does; queued first, so a racing duplicate waits on it.
        Idempotency.RecordInTransaction(response.HttpContext, session, StatusCodes.Status201Created, location);
        Record(session, filed, command, accessCode);

        // The body holds the only copy of the access code: no cache, and the idempotency store keeps no body for it.
        response.Headers.CacheControl = "no-store";
        response.Headers.ETag = ClaimVersions.ETag(1);
        return TypedResults.Created(location, new ClaimFiledResponse(claimId, reference, accessCode, Claim.Create(filed)));
    }
}
