using NodaTime;

namespace CompensationLedger.Claims;

/// <summary>Where a claim stands. Serialized by the ledger's JSON rules (kebab-case, e.g. <c>verified-eligible</c>).</summary>
public enum ClaimStatus
{
    Filed,
    VerifiedEligible,
    VerifiedIneligible,
    NeedsReview,
    AwaitingInformation,
    Approved,
    Rejected,
    UnderAppeal,
    Lapsed,
    Withdrawn,
}

/// <summary>The checks a verification runs against the case and the fund's rules (DOMAIN.md, Verification).</summary>
public enum ClaimCheck
{
    PlatformCoveredByCase,
    PlatformEligibleForFund,
    SupplierAccountFlagged,
    BeneficiaryAccountFlagged,
    PaymentWithinCasePeriod,
    FiledWithinWindow,
    NotDuplicate,
    AmountValid,
}

public enum CheckOutcome
{
    Passed,
    Failed,
    NotApplicable,
}

public enum VerificationResult
{
    VerifiedEligible,
    VerifiedIneligible,
    NeedsReview,
}

public enum RejectionReason
{
    NotLinkedToCase,
    PlatformNotEligible,
    FiledLate,
    Duplicate,
    PaymentOutsideCasePeriod,
    InsufficientEvidence,
    SuspectedFraudulentClaim,
    Other,
}

public enum AppealOutcome
{
    /// <summary>The appeal succeeds: the claim is approved and its entitlement computed.</summary>
    Grant,

    /// <summary>The rejection stands; there is no second appeal.</summary>
    Dismiss,
}

/// <summary>What every claim event says about itself, for the history: whose stream, who acted, when (business time).</summary>
public interface IClaimEvent
{
    Guid ClaimId { get; }

    string Actor { get; }

    Instant At { get; }
}

/// <param name="Sha256">Lower-case hex SHA-256 of the document, so a document produced later can be shown to be the one filed.</param>
public sealed record EvidenceDocument(string Name, string Sha256);

/// <summary>One check's outcome, with the evidence that explains it (e.g. which flagged account matched).</summary>
public sealed record CheckRecord(ClaimCheck Check, CheckOutcome Outcome, string Evidence);

/// <summary>The exchange rate an entitlement was computed with: 1 <see cref="Currency"/> = <see cref="Rate"/> <see cref="FundCurrency"/>.</summary>
/// <param name="FundId">Whose rate it was: the fund's own (recorded for it), or null for a rate recorded for every fund.</param>
public sealed record AppliedRate(string Currency, string FundCurrency, LocalDate Date, decimal Rate, Guid? FundId = null);

/// <summary>An entitlement and how it was computed, so it can be explained and recomputed.</summary>
/// <param name="LossInFundCurrency">The loss converted at <see cref="Rate"/>, unrounded (rounding happens once, on the entitlement).</param>
/// <param name="Rate">Null when the loss was paid in the fund's currency.</param>
public sealed record EntitlementComputation(
    Money Entitlement,
    Money Loss,
    decimal LossInFundCurrency,
    AppliedRate? Rate,
    decimal CoverageRatio,
    Money Cap,
    bool Capped,
    string PolicyVersion);

/// <summary>A claims handler filed a buyer's claim. Carries no buyer personal data: that is in <see cref="BuyerDetails"/>, erasable.</summary>
public sealed record ClaimFiled(
    Guid ClaimId,
    Guid CaseId,
    string Reference,
    string BuyerCountry,
    string Platform,
    string SupplierAccount,
    string OrderReference,
    LocalDate OrderDate,
    LocalDate PaymentDate,
    Money AmountPaid,
    string PaymentReference,
    string? BeneficiaryAccount,
    string GoodsDescription,
    IReadOnlyList<EvidenceDocument> Evidence,
    PolicyTerms Policy,
    string FiledBy,
    Instant FiledAt,
    string? BuyerKey = null) : IClaimEvent
{
    string IClaimEvent.Actor => FiledBy;

    Instant IClaimEvent.At => FiledAt;
}

/// <summary>A claims handler ran the checks against the case; each outcome and its evidence is kept.</summary>
public sealed record ClaimVerified(
    Guid ClaimId,
    VerificationResult Result,
    IReadOnlyList<CheckRecord> Checks,
    IReadOnlyList<ClaimCheck> Reasons,
    string VerifiedBy,
    Instant VerifiedAt) : IClaimEvent
{
    string IClaimEvent.Actor => VerifiedBy;

    Instant IClaimEvent.At => VerifiedAt;
}

/// <summary>A claims handler asked the buyer for what is missing, to be answered by the deadline or the claim lapses.</summary>
public sealed record ClaimInformationRequested(
    Guid ClaimId,
    int RequestNumber,
    IReadOnlyList<string> Missing,
    Instant Deadline,
    string RequestedBy,
    Instant RequestedAt) : IClaimEvent
{
    string IClaimEvent.Actor => RequestedBy;

    Instant IClaimEvent.At => RequestedAt;
}

/// <summary>The buyer's answer to an information request was recorded (by a handler, on the buyer's behalf).</summary>
public sealed record ClaimInformationProvided(
    Guid ClaimId,
    int RequestNumber,
    string Response,
    IReadOnlyList<EvidenceDocument> Evidence,
    string RecordedBy,
    Instant ProvidedAt) : IClaimEvent
{
    string IClaimEvent.Actor => RecordedBy;

    Instant IClaimEvent.At => ProvidedAt;
}

/// <summary>An information request's deadline passed unanswered: the claim lapsed.</summary>
public sealed record ClaimLapsed(
    Guid ClaimId,
    int RequestNumber,
    Instant Deadline,
    Instant LapsedAt) : IClaimEvent
{
    public const string System = "system";

    string IClaimEvent.Actor => System;

    Instant IClaimEvent.At => LapsedAt;
}

/// <summary>A claims approver approved the claim; the policy in force at filing gave this entitlement.</summary>
public sealed record ClaimApproved(
    Guid ClaimId,
    EntitlementComputation Computation,
    string? Note,
    string ApprovedBy,
    Instant ApprovedAt) : IClaimEvent
{
    string IClaimEvent.Actor => ApprovedBy;

    Instant IClaimEvent.At => ApprovedAt;
}

/// <summary>A claims approver rejected the claim for a stated reason.</summary>
public sealed record ClaimRejected(
    Guid ClaimId,
    RejectionReason Reason,
    string? Note,
    string RejectedBy,
    Instant RejectedAt) : IClaimEvent
{
    string IClaimEvent.Actor => RejectedBy;

    Instant IClaimEvent.At => RejectedAt;
}

/// <summary>A claims handler appealed the rejection on the buyer's behalf, within the appeal window.</summary>
public sealed record ClaimAppealed(
    Guid ClaimId,
    string Grounds,
    string AppealedBy,
    Instant AppealedAt) : IClaimEvent
{
    string IClaimEvent.Actor => AppealedBy;

    Instant IClaimEvent.At => AppealedAt;
}

/// <summary>A claims approver granted the appeal: the claim is approved with this entitlement.</summary>
public sealed record ClaimAppealGranted(
    Guid ClaimId,
    EntitlementComputation Computation,
    string? Note,
    string DecidedBy,
    Instant DecidedAt) : IClaimEvent
{
    string IClaimEvent.Actor => DecidedBy;

    Instant IClaimEvent.At => DecidedAt;
}

/// <summary>A claims approver dismissed the appeal: the rejection stands, finally.</summary>
public sealed record ClaimAppealDismissed(
    Guid ClaimId,
    string? Note,
    string DecidedBy,
    Instant DecidedAt) : IClaimEvent
{
    string IClaimEvent.Actor => DecidedBy;

    Instant IClaimEvent.At => DecidedAt;
}

/// <summary>The claim was withdrawn (at the buyer's request, through a handler).</summary>
public sealed record ClaimWithdrawn(
    Guid ClaimId,
    string Reason,
    string WithdrawnBy,
    Instant WithdrawnAt) : IClaimEvent
{
    string IClaimEvent.Actor => WithdrawnBy;

    Instant IClaimEvent.At => WithdrawnAt;
}

/// <summary>The buyer's personal data was erased at their request; the claim and its money history stay.</summary>
public sealed record ClaimBuyerDataErased(
    Guid ClaimId,
    string ErasedBy,
    Instant ErasedAt) : IClaimEvent
{
    string IClaimEvent.Actor => ErasedBy;

    Instant IClaimEvent.At => ErasedAt;
}

/// <summary>
/// A claims handler gave the buyer a new access code (the old one was lost, or a filing's answer never
/// reached its client). The code itself is never in an event; only its hash is kept, in <see cref="ClaimAccess"/>.
/// </summary>
public sealed record ClaimAccessCodeReissued(
    Guid ClaimId,
    string ReissuedBy,
    Instant ReissuedAt) : IClaimEvent
{
    string IClaimEvent.Actor => ReissuedBy;

    Instant IClaimEvent.At => ReissuedAt;
}

/// <summary>An information request the buyer has not answered yet.</summary>
public sealed record OpenInformationRequest(int RequestNumber, IReadOnlyList<string> Missing, Instant Deadline, ClaimStatus ResumeStatus);

/// <summary>
/// A claim as its events made it: the write model for decisions and, kept inline by Marten,
/// the read model behind <c>GET /api/claims/{claimId}</c> and the claim list.
/// </summary>
public sealed record Claim(
    Guid Id,
    int Version,
    Guid CaseId,
    string Reference,
    ClaimStatus Status,
    string BuyerCountry,
    string Platform,
    string SupplierAccount,
    string OrderReference,
    LocalDate OrderDate,
    LocalDate PaymentDate,
    Money AmountPaid,
    string PaymentReference,
    string? BeneficiaryAccount,
    string GoodsDescription,
    IReadOnlyList<EvidenceDocument> Evidence,
    PolicyTerms Policy,
    string FiledBy,
    Instant FiledAt,
    ClaimVerified? LastVerification,
    IReadOnlyList<string> Verifiers,
    int InformationRequestCount,
    OpenInformationRequest? OpenRequest,
    EntitlementComputation? Entitlement,
    RejectionReason? RejectionReason,
    string? RejectedBy,
    Instant? RejectedAt,
    bool Appealed,
    Instant? DecidedAt,
    Instant LastChangedAt,
    bool BuyerDataErased = false,
    string? BuyerKey = null) : Infrastructure.IFoldsMany<Claim>
{
    public static Claim Create(ClaimFiled e) =>
        new(e.ClaimId, 1, e.CaseId, e.Reference, ClaimStatus.Filed, e.BuyerCountry, e.Platform, e.SupplierAccount, e.OrderReference,
            e.OrderDate, e.PaymentDate, e.AmountPaid, e.PaymentReference, e.BeneficiaryAccount, e.GoodsDescription, e.Evidence, e.Policy,
            e.FiledBy, e.FiledAt, null, [], 0, null, null, null, null, null, false, null, e.FiledAt, BuyerKey: e.BuyerKey);

    public Claim Apply(ClaimVerified e) => this with
    {
        Status = e.Result switch
        {
            VerificationResult.VerifiedEligible => ClaimStatus.VerifiedEligible,
            VerificationResult.VerifiedIneligible => ClaimStatus.VerifiedIneligible,
            _ => ClaimStatus.NeedsReview,
        },
        LastVerification = e,
        Verifiers = Verifiers.Contains(e.VerifiedBy) ? Verifiers : [.. Verifiers, e.VerifiedBy],
        LastChangedAt = e.VerifiedAt,
    };

    public Claim Apply(ClaimInformationRequested e) => this with
    {
        Status = ClaimStatus.AwaitingInformation,
        InformationRequestCount = e.RequestNumber,
        OpenRequest = new OpenInformationRequest(e.RequestNumber, e.Missing, e.Deadline, Status),
        LastChangedAt = e.RequestedAt,
    };

    public Claim Apply(ClaimInformationProvided e) => this with
    {
        Status = OpenRequest?.ResumeStatus ?? ClaimStatus.Filed,
        OpenRequest = null,
        Evidence = [.. Evidence, .. e.Evidence],
        LastChangedAt = e.ProvidedAt,
    };

    public Claim Apply(ClaimLapsed e) => this with { Status = ClaimStatus.Lapsed, OpenRequest = null, DecidedAt = e.LapsedAt, LastChangedAt = e.LapsedAt };

    public Claim Apply(ClaimApproved e) => this with
    {
        Status = ClaimStatus.Approved, Entitlement = e.Computation, DecidedAt = e.ApprovedAt, LastChangedAt = e.ApprovedAt,
    };

    public Claim Apply(ClaimRejected e) => this with
    {
        Status = ClaimStatus.Rejected, RejectionReason = e.Reason, RejectedBy = e.RejectedBy, RejectedAt = e.RejectedAt,
        DecidedAt = e.RejectedAt, LastChangedAt = e.RejectedAt,
    };

    public Claim Apply(ClaimAppealed e) => this with { Status = ClaimStatus.UnderAppeal, Appealed = true, LastChangedAt = e.AppealedAt };

    public Claim Apply(ClaimAppealGranted e) => this with
    {
        Status = ClaimStatus.Approved, Entitlement = e.Computation, DecidedAt = e.DecidedAt, LastChangedAt = e.DecidedAt,
    };

    public Claim Apply(ClaimAppealDismissed e) => this with { Status = ClaimStatus.Rejected, DecidedAt = e.DecidedAt, LastChangedAt = e.DecidedAt };

    public Claim Apply(ClaimWithdrawn e) => this with { Status = ClaimStatus.Withdrawn, OpenRequest = null, DecidedAt = e.WithdrawnAt, LastChangedAt = e.WithdrawnAt };

    public Claim Apply(ClaimBuyerDataErased e) => this with { BuyerDataErased = true, LastChangedAt = e.ErasedAt };

    public Claim Apply(ClaimAccessCodeReissued e) => this with { LastChangedAt = e.ReissuedAt };

    /// <summary>Folds one event of any claim type: for decisions made in a row (the demo seed, the specs, the responses).</summary>
    public static Claim Applying(Claim? state, object e) => (state, e) switch
    {
        (null, ClaimFiled filed) => Create(filed),
        (null, _) => throw new InvalidOperationException($"A claim starts with {nameof(ClaimFiled)}, not {e.GetType().Name}."),
        (_, ClaimVerified x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimInformationRequested x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimInformationProvided x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimLapsed x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimApproved x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimRejected x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimAppealed x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimAppealGranted x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimAppealDismissed x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimWithdrawn x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimBuyerDataErased x) => state.Apply(x) with { Version = state.Version + 1 },
        (_, ClaimAccessCodeReissued x) => state.Apply(x) with { Version = state.Version + 1 },
        _ => throw new InvalidOperationException($"{e.GetType().Name} is not a claim event."),
    };

    public static Claim Fold(IEnumerable<object> events) => events.Aggregate((Claim?)null, Applying)!;

    /// <summary>
    /// The rebuild's fold (<see cref="Infrastructure.IFoldsMany{TSelf}"/>): the events' data folded by <see cref="Applying"/>, the version
    /// set to the stream's, without wrapping each event in Marten's metadata first (issue #7).
    /// </summary>
    /// <summary>Every claim event changes the claim's snapshot.</summary>
    public static IReadOnlyCollection<Type> NotInSnapshot { get; } = [];

    public static Claim? FoldMany(Claim? claim, IReadOnlyList<object> events, long streamVersion) =>
        events.Count == 0 ? claim : events.Aggregate(claim, (state, e) => (Claim?)Applying(state, e))! with { Version = checked((int)streamVersion) };
}
