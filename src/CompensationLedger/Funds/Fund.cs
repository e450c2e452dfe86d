using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using NodaTime;

namespace CompensationLedger.Funds;

// The fund's stream is its books: every pool, every entitlement it owes and every round and payout
// live in one stream, because one decision can move money out of two pools at once (a claim's
// perpetrator pool, then the general pool) and must see both balances at the same version.
// Every event that moves money carries the amounts per pool, so the postings (Books.PostingsFor)
// are a function of the event alone.

/// <summary>Finance established a compensation fund: who sponsors it, its currency, the platforms it covers and its first policy.</summary>
public sealed record FundEstablished(
    Guid FundId,
    string Name,
    string Sponsor,
    string Currency,
    IReadOnlyList<string> EligiblePlatforms,
    PolicyVersion Policy,
    string EstablishedBy,
    Instant EstablishedAt);

/// <summary>Finance declared that this fund compensates the buyers of a fraud case: its approved claims are owed by this fund.</summary>
public sealed record FundCoversCase(Guid FundId, Guid CaseId, string CaseTitle, string CoveredBy, Instant CoveredAt);

/// <summary>Finance added a policy version that applies from its effective date on.</summary>
public sealed record PolicyVersionAdded(Guid FundId, PolicyVersion Policy, string AddedBy, Instant AddedAt);

/// <summary>Finance opened a pool: the general pool, or the pool of one perpetrator's forfeited fees.</summary>
public sealed record PoolOpened(Guid FundId, Guid PoolId, PoolKind Kind, string Name, PerpetratorAccount? Perpetrator, string OpenedBy, Instant OpenedAt);

/// <summary>Money arrived in a pool's bank account (bank reference as on the statement).</summary>
public sealed record PoolDeposited(Guid FundId, Guid PoolId, Money Amount, string BankReference, LocalDate ValueDate, string RecordedBy, Instant RecordedAt);

/// <summary>An approved claim is owed this much by the fund, in the fund's currency (fed by the claims feature).</summary>
/// <param name="BuyerKey">
/// The buyer's pseudonymous key (<see cref="Claims.ClaimFingerprints.BuyerKey"/>, a hash: no personal data in clear), so a
/// round pays each buyer once. Null on entitlements recorded before buyers were known to the fund: such a claim is its own buyer.
/// </param>
public sealed record EntitlementRecorded(
    Guid FundId,
    Guid ClaimId,
    string ClaimReference,
    Guid CaseId,
    string Platform,
    string SupplierAccountId,
    string BuyerCountry,
    Money Amount,
    string RecordedBy,
    Instant RecordedAt,
    string? BuyerKey = null);

/// <summary>Finance prepared a distribution round: money was set aside (allocated) per claim and pool; allocations under the minimum payment were carried.</summary>
public sealed record RoundPrepared(
    Guid FundId,
    Guid RoundId,
    int Number,
    int PolicyVersion,
    IReadOnlyList<RoundAllocation> Allocations,
    IReadOnlyList<CarriedAllocation> Carried,
    string PreparedBy,
    Instant PreparedAt);

/// <summary>A second finance user released a prepared round: one payout per buyer (per claim in rounds released before buyers were known) left for the bank.</summary>
public sealed record RoundReleased(Guid FundId, Guid RoundId, IReadOnlyList<PayoutIssued> Payouts, string ReleasedBy, Instant ReleasedAt);

/// <summary>Finance withdrew a prepared round before release: its allocations went back to the pools.</summary>
public sealed record RoundCancelled(Guid FundId, Guid RoundId, IReadOnlyList<RoundAllocation> Allocations, string Reason, string CancelledBy, Instant CancelledAt);

// Payout events and the claims they pay: events written before one payout per buyer carry one ClaimId and the
// per-pool Lines; since then they carry ClaimId null and ClaimLines (per claim and pool), and Lines stays the
// per-pool total (what the books post). PayoutLines.Of reads both shapes; nothing old is rewritten.

/// <summary>The bank confirmed that a payout reached the buyer.</summary>
public sealed record PayoutSettled(Guid FundId, Guid PayoutId, Guid? ClaimId, IReadOnlyList<PoolAmount> Lines, string? BankReference, string RecordedBy, Instant SettledAt,
    IReadOnlyList<PayoutLine>? ClaimLines = null);

/// <summary>The bank returned a payout (bounced): its money is back in its pools and each of its claims is owed its part again.</summary>
public sealed record PayoutReturned(Guid FundId, Guid PayoutId, Guid? ClaimId, IReadOnlyList<PoolAmount> Lines, string Reason, string RecordedBy, Instant ReturnedAt,
    IReadOnlyList<PayoutLine>? ClaimLines = null);

/// <summary>Finance prepared the reissue of a returned payout to corrected bank details; nothing moves until another finance user approves it.</summary>
public sealed record PayoutReissuePrepared(Guid FundId, Guid PayoutId, BankDetails BankDetails, string PreparedBy, Instant PreparedAt);

/// <summary>
/// A prepared reissue was withdrawn before approval (wrong details, or the approver would not approve them): nothing had
/// moved, and the returned payout may be prepared again with other details.
/// </summary>
public sealed record PayoutReissueWithdrawn(Guid FundId, Guid PayoutId, string Reason, string WithdrawnBy, Instant WithdrawnAt);

/// <summary>
/// A returned payout was sent again, from the same pools, to corrected bank details: approved by
/// <paramref name="ReissuedBy"/>, prepared by <paramref name="PreparedBy"/> (null on reissues made before four eyes applied to them).
/// </summary>
public sealed record PayoutReissued(
    Guid FundId,
    Guid OriginalPayoutId,
    Guid PayoutId,
    string Reference,
    Guid? ClaimId,
    string? ClaimReference,
    IReadOnlyList<PoolAmount> Lines,
    Money Amount,
    BankDetails BankDetails,
    string ReissuedBy,
    Instant ReissuedAt,
    IReadOnlyList<PayoutLine>? ClaimLines = null,
    string? BuyerKey = null,
    string? PreparedBy = null);

public enum PoolKind { General, Perpetrator }

public enum RoundStatus { Prepared, Released, Cancelled }

public enum PayoutStatus { InTransit, Settled, Returned }

/// <summary>The supplier account whose forfeited fees fund a perpetrator pool.</summary>
/// <param name="AccountId">Normalised (<see cref="Cases.AccountNumbers.NormaliseSupplierAccount"/>).</param>
public sealed record PerpetratorAccount(Guid CaseId, string Platform, string AccountId)
{
    public bool Matches(Guid caseId, string platform, string normalisedAccountId) =>
        CaseId == caseId && AccountId == normalisedAccountId && string.Equals(Platform, platform, StringComparison.OrdinalIgnoreCase);
}

/// <summary>Money set aside in a round for one claim from one pool.</summary>
public sealed record RoundAllocation(Guid ClaimId, string ClaimReference, Guid PoolId, Money Amount);

/// <summary>What a claim would have got in a round but did not, being under the minimum payment; the money stayed in the pools.</summary>
public sealed record CarriedAllocation(Guid ClaimId, string ClaimReference, Money Amount);

public sealed record PoolAmount(Guid PoolId, Money Amount);

/// <summary>One claim's money in a payout, from one pool.</summary>
public sealed record PayoutLine(Guid ClaimId, string ClaimReference, Guid PoolId, Money Amount);

/// <param name="Lines">Per pool, what the pools pay into the payout (the books' view).</param>
/// <param name="ClaimLines">Per claim and pool (null on payouts issued one per claim, then <paramref name="ClaimId"/> names the claim).</param>
public sealed record PayoutIssued(Guid PayoutId, string Reference, Guid? ClaimId, string? ClaimReference, IReadOnlyList<PoolAmount> Lines, Money Amount,
    string? BuyerKey = null, IReadOnlyList<PayoutLine>? ClaimLines = null);

/// <summary>The claims a payout pays, from either shape of the payout events.</summary>
public static class PayoutLines
{
    public static IReadOnlyList<PayoutLine> Of(Guid? claimId, string? claimReference, IReadOnlyList<PoolAmount> lines, IReadOnlyList<PayoutLine>? claimLines) =>
        claimLines ?? (claimId is { } id
            ? lines.Select(l => new PayoutLine(id, claimReference ?? "", l.PoolId, l.Amount)).ToArray()
            : throw new InvalidOperationException("A payout event names neither its claim nor its claim lines."));

    public static IReadOnlyList<PayoutLine> Of(PayoutIssued p) => Of(p.ClaimId, p.ClaimReference, p.Lines, p.ClaimLines);

    public static IReadOnlyList<PayoutLine> Of(PayoutSettled p) => Of(p.ClaimId, null, p.Lines, p.ClaimLines);

    public static IReadOnlyList<PayoutLine> Of(PayoutReturned p) => Of(p.ClaimId, null, p.Lines, p.ClaimLines);

    public static IReadOnlyList<PayoutLine> Of(PayoutReissued p) => Of(p.ClaimId, p.ClaimReference, p.Lines, p.ClaimLines);

    /// <summary>Per pool totals of claim lines, pools in order of first appearance.</summary>
    public static IReadOnlyList<PoolAmount> PerPool(IEnumerable<PayoutLine> lines) =>
        lines.GroupBy(l => l.PoolId).Select(g => new PoolAmount(g.Key, new Money(Fund.Normalised(g.Sum(l => l.Amount.Amount)), g.First().Amount.Currency))).ToArray();

    /// <summary>What claim lines come to, in their currency (a payout's amount; written without trailing zeros, as <see cref="PerPool"/>).</summary>
    public static Money Total(IReadOnlyList<PayoutLine> lines) =>
        new(Fund.Normalised(lines.Sum(l => l.Amount.Amount)), lines[0].Amount.Currency);

    /// <summary>The references of the claims a payout pays, in ordinal order (one payout per buyer may pay several).</summary>
    public static IReadOnlyList<string> References(IEnumerable<PayoutLine> lines) =>
        lines.Select(l => l.ClaimReference).Distinct().Order(StringComparer.Ordinal).ToArray();

    /// <summary>The claim a payout pays when it pays exactly one; null when it pays several.</summary>
    public static Guid? OnlyClaim(IEnumerable<PayoutLine> lines)
    {
        var claims = lines.Select(l => l.ClaimId).Distinct().Take(2).ToList();
        return claims.Count == 1 ? claims[0] : null;
    }

    /// <summary>The claims of a set of payout events' lines with what each is paid.</summary>
    public static IReadOnlyDictionary<Guid, decimal> PerClaim(IEnumerable<PayoutLine> lines) =>
        lines.GroupBy(l => l.ClaimId).ToDictionary(g => g.Key, g => g.Sum(l => l.Amount.Amount));
}

public sealed record RecordedDeposit(Guid PoolId, decimal Amount);

public sealed record BankDetails(string AccountHolder, string AccountNumber, string? BankName = null, string? Swift = null, string? Country = null);

public sealed record Pool(
    Guid Id,
    int Sequence,
    PoolKind Kind,
    string Name,
    PerpetratorAccount? Perpetrator,
    decimal Deposited,
    decimal Allocated,
    decimal InTransit,
    decimal Settled,
    decimal Returned)
{
    /// <summary>What a round may still allocate: deposits less what is set aside, on its way, or paid. Returned money is available again.</summary>
    [JsonIgnore]
    public decimal Available => Deposited - Allocated - InTransit - Settled;
}

/// <summary>What the fund owes one claim and how much of it is already committed (allocated, in transit or settled).</summary>
/// <remarks>
/// One per approved claim in the fund's snapshot: zero amounts (most of them, most of the time) and a missing buyer key are left out of
/// its JSON and read back as zero and null (issue #7).
/// </remarks>
public sealed record Entitlement(
    Guid ClaimId,
    string ClaimReference,
    Guid CaseId,
    string Platform,
    string SupplierAccountId,
    string BuyerCountry,
    decimal Amount,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] decimal Allocated,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] decimal InTransit,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] decimal Settled,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? BuyerKey = null)
{
    /// <summary>Who is paid: the buyer, or the claim itself when the entitlement was recorded without a buyer key.</summary>
    [JsonIgnore]
    public string Payee => BuyerKey ?? "claim:" + ClaimId.ToString("N");

    [JsonIgnore]
    public decimal Committed => Allocated + InTransit + Settled;

    [JsonIgnore]
    public decimal StillOwed => Amount - Committed;
}

/// <param name="Allocations">
/// The money set aside, claim by claim, while the round is prepared (and what a cancelled round had set aside). A released round
/// keeps none in the fund's snapshot: its allocations became its payouts' claim lines, one for one, so they are read from there
/// (<see cref="Fund.AllocationsOf"/>) instead of being stored twice (issue #7: ~2 MB of the snapshot of a 10,000-claim round).
/// Snapshots written before that still hold them, and are read as they are.
/// </param>
public sealed record Round(
    Guid Id,
    int Number,
    RoundStatus Status,
    int PolicyVersion,
    IReadOnlyList<RoundAllocation> Allocations,
    IReadOnlyList<CarriedAllocation> Carried,
    IReadOnlyList<Guid> PayoutIds,
    string PreparedBy,
    Instant PreparedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ReleasedBy,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Instant? ReleasedAt)
{
    /// <summary>
    /// The payouts a released round issued, in the order it issued them, in a fund folded from its events; never stored in the
    /// snapshot, where they were 1.9 MB of a 2 MB document at 50,000 payouts, read and written again by every decision. A round read
    /// from its snapshot gets them from their rows (<see cref="PayoutViews.OfRoundAsync"/>). Snapshots written before still hold them;
    /// they are not read.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<Guid> PayoutIds { get; init; } = PayoutIds ?? [];

    /// <summary>
    /// A released round's total and number of allocations (its payouts' claim lines, <see cref="Fund.AllocationsOf(Round)"/>), kept
    /// when it is released so the fund view need not add up every payout row of the fund (at 50,000 payouts that aggregate read every
    /// payout's JSON: most of the fund view's 190 ms; issue #7). Null before release, and in snapshots written before they were kept.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public decimal? ReleasedTotal { get; init; }

    /// <inheritdoc cref="ReleasedTotal"/>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ReleasedAllocations { get; init; }
}

/// <summary>A reissue prepared by one finance user, waiting for another to approve it.</summary>
public sealed record PendingReissue(BankDetails BankDetails, string PreparedBy, Instant PreparedAt);

/// <summary>One transfer to one buyer. <see cref="Lines"/> per pool; <see cref="PerClaim"/> per claim and pool.</summary>
/// <remarks>
/// Stored in the fund's snapshot by the thousand (one per buyer per round), so members that are null are left out of its JSON
/// (a missing member reads back as null): most payouts have no reissue, return or pending reissue, and ~150 bytes of nulls each
/// were a fifth of a payout's JSON (issue #7), and so are the per-pool lines and the amount where the claim lines make them (see the
/// JSON constructor). The same for the nullable members of <see cref="Entitlement"/> and <see cref="Round"/>.
/// </remarks>
/// <param name="ClaimId">The one claim of a payout issued before payouts were per buyer; null since (see <see cref="ClaimLines"/>).</param>
public sealed record Payout(
    Guid Id,
    string Reference,
    Guid RoundId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Guid? ClaimId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ClaimReference,
    [property: JsonIgnore] IReadOnlyList<PoolAmount> Lines,
    [property: JsonIgnore] Money Amount,
    PayoutStatus Status,
    Instant IssuedAt,
    string IssuedBy,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] BankDetails? BankDetails,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Guid? ReissueOf,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Guid? ReissuedAs,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Instant? SettledAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Instant? ReturnedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ReturnReason)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? BuyerKey { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<PayoutLine>? ClaimLines { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public PendingReissue? PendingReissue { get; init; }

    /// <summary>
    /// The stored shape (the fund's snapshot): <see cref="Lines"/> and <see cref="Amount"/> are left out where they are exactly what
    /// the claim lines make them (<see cref="PayoutLines.PerPool"/> and their sum: every payout a release or a reissue issued), and
    /// computed again here. Payouts of one claim (no claim lines) and any payout whose lines differ, even in an amount's scale, keep them.
    /// </summary>
    [JsonConstructor]
    private Payout(Guid id, string reference, Guid roundId, Guid? claimId, string? claimReference, IReadOnlyList<PoolAmount>? storedLines, Money? storedAmount,
        PayoutStatus status, Instant issuedAt, string issuedBy, BankDetails? bankDetails, Guid? reissueOf, Guid? reissuedAs, Instant? settledAt,
        Instant? returnedAt, string? returnReason, IReadOnlyList<PayoutLine>? claimLines)
        : this(id, reference, roundId, claimId, claimReference,
            storedLines ?? PayoutLines.PerPool(claimLines ?? throw new JsonException($"Payout {id} is stored with neither its lines nor its claim lines.")),
            storedAmount ?? PayoutLines.Total(claimLines ?? throw new JsonException($"Payout {id} is stored with neither its amount nor its claim lines.")),
            status, issuedAt, issuedBy, bankDetails, reissueOf, reissuedAs, settledAt, returnedAt, returnReason) =>
        ClaimLines = claimLines;

    [JsonInclude, JsonPropertyName("lines"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    private IReadOnlyList<PoolAmount>? StoredLines =>
        ClaimLines is { Count: > 0 } claimLines && Exactly(PayoutLines.PerPool(claimLines), Lines) ? null : Lines;

    [JsonInclude, JsonPropertyName("amount"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    private Money? StoredAmount => ClaimLines is { Count: > 0 } claimLines && Exactly(PayoutLines.Total(claimLines), Amount) ? null : Amount;

    /// <summary>Equal as written: the same amount with the same scale (500.00 and 500 are equal decimals but not the same JSON).</summary>
    private static bool Exactly(Money a, Money b) => a.Amount == b.Amount && a.Amount.Scale == b.Amount.Scale && a.Currency == b.Currency;

    private static bool Exactly(IReadOnlyList<PoolAmount> a, IReadOnlyList<PoolAmount> b) =>
        a.Count == b.Count && a.Zip(b).All(p => p.First.PoolId == p.Second.PoolId && Exactly(p.First.Amount, p.Second.Amount));

    /// <summary>A payout as a round's release issues it: in transit, nothing has happened to it yet.</summary>
    public static Payout Issued(RoundReleased release, PayoutIssued p) =>
        new(p.PayoutId, p.Reference, release.RoundId, p.ClaimId, p.ClaimReference, p.Lines, p.Amount, PayoutStatus.InTransit, release.ReleasedAt, release.ReleasedBy,
            null, null, null, null, null, null) { BuyerKey = p.BuyerKey, ClaimLines = p.ClaimLines };

    /// <summary>The new payout of a reissue, as issued: in transit to the corrected details, in its original's round (<paramref name="roundId"/>).</summary>
    public static Payout Issued(PayoutReissued x, Guid roundId) =>
        new(x.PayoutId, x.Reference, roundId, x.ClaimId, x.ClaimReference, x.Lines, x.Amount, PayoutStatus.InTransit, x.ReissuedAt, x.ReissuedBy, x.BankDetails,
            x.OriginalPayoutId, null, null, null, null) { BuyerKey = x.BuyerKey, ClaimLines = x.ClaimLines };

    [JsonIgnore]
    public IReadOnlyList<PayoutLine> PerClaim => PayoutLines.Of(ClaimId, ClaimReference, Lines, ClaimLines);

    /// <summary>The claims this payout pays, in reference order.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> ClaimReferences => PayoutLines.References(PerClaim);

    public bool Pays(Guid claimId) => PerClaim.Any(l => l.ClaimId == claimId);

    /// <summary>What this payout carries for one claim.</summary>
    public decimal For(Guid claimId) => PerClaim.Where(l => l.ClaimId == claimId).Sum(l => l.Amount.Amount);
}

/// <summary>
/// A fund as its events made it: the write model for every money decision (read with
/// FetchForWriting, so two decisions on the same version cannot both commit) and, kept inline by
/// Marten, the read model behind <c>GET /api/funds/{fundId}</c>.
/// </summary>
public sealed record Fund(
    Guid Id,
    int Version,
    string Name,
    string Sponsor,
    string Currency,
    IReadOnlyList<string> EligiblePlatforms,
    IReadOnlyList<PolicyVersion> Policies,
    ImmutableDictionary<Guid, Pool> Pools,
    ImmutableDictionary<string, RecordedDeposit> DepositsByBankReference,
    ImmutableDictionary<Guid, Entitlement> Entitlements,
    ImmutableDictionary<Guid, Round> Rounds,
    ImmutableDictionary<Guid, Payout> Payouts,
    ImmutableDictionary<string, IReadOnlyList<MatchedStatementLine>> Statements,
    string EstablishedBy,
    Instant EstablishedAt) : Infrastructure.IFoldsMany<Fund>
{
    public static Fund Create(FundEstablished e) =>
        new(e.FundId, 1, e.Name, e.Sponsor, e.Currency, e.EligiblePlatforms, [e.Policy],
            ImmutableDictionary<Guid, Pool>.Empty, ImmutableDictionary<string, RecordedDeposit>.Empty, ImmutableDictionary<Guid, Entitlement>.Empty,
            ImmutableDictionary<Guid, Round>.Empty, ImmutableDictionary<Guid, Payout>.Empty, ImmutableDictionary<string, IReadOnlyList<MatchedStatementLine>>.Empty,
            e.EstablishedBy, e.EstablishedAt) { Complete = true };

    /// <summary>
    /// Every payout the fund issued, in a fund folded from its events (<see cref="Complete"/>); in a fund read from its snapshot, only
    /// the payouts a decision loaded from their rows (<see cref="FundRows"/>). Never stored in the snapshot: each payout has its row in
    /// <c>report_payouts</c>, kept in the same transaction as the fund's events (<see cref="Reports.FundReportProjection"/>), and a
    /// snapshot holding them was 29 MB of the 49 MB every decision on a 47,000-claim fund read and wrote back (issue #7). Snapshots
    /// written before still hold them; they are not read.
    /// </summary>
    [JsonIgnore]
    public ImmutableDictionary<Guid, Payout> Payouts { get; init; } = Payouts ?? ImmutableDictionary<Guid, Payout>.Empty;

    /// <summary>
    /// What the fund owes each approved claim, in a fund folded from its events (<see cref="Complete"/>); in a fund read from its
    /// snapshot, only the entitlements a decision or view loaded from their rows (<see cref="EntitlementRows"/>, table
    /// <c>fund_entitlements</c>, kept in the same transaction as the fund's events). Never stored in the snapshot: at 47,000 claims
    /// they were 20 MB that every decision on the fund read and wrote back (issue #7). Snapshots written before still hold them;
    /// they are not read.
    /// </summary>
    [JsonIgnore]
    public ImmutableDictionary<Guid, Entitlement> Entitlements { get; init; } = Entitlements ?? ImmutableDictionary<Guid, Entitlement>.Empty;

    /// <summary>
    /// Whether the fund holds every entitlement and payout its events made: true when folded from its events (<see cref="Create"/>,
    /// specs, replays), false when read from its snapshot, which keeps neither (<see cref="Entitlements"/>, <see cref="Payouts"/>).
    /// An event about an entitlement or payout the fund does not hold changes only what the fund holds (its pools, rounds, the rows
    /// it loaded); in a complete fund a missing one is a broken stream.
    /// </summary>
    [JsonIgnore]
    public bool Complete { get; init; }

    /// <summary>The fraud cases whose approved claims this fund owes (a case is covered by at most one fund).</summary>
    public IReadOnlyList<Guid> CoveredCases { get; init; } = [];

    // Each event's effect is written once, in FundFold (a fold over builders of the same immutable collections); one event at a time
    // here (Marten's aggregator, decisions), many at once in Fold(fund, events) and the rebuild (issue #7).
    public Fund Apply(FundCoversCase e) => FundFold.Applying(this, e);

    public Fund Apply(PolicyVersionAdded e) => FundFold.Applying(this, e);

    public Fund Apply(PoolOpened e) => FundFold.Applying(this, e);

    public Fund Apply(PoolDeposited e) => FundFold.Applying(this, e);

    public Fund Apply(EntitlementRecorded e) => FundFold.Applying(this, e);

    public Fund Apply(RoundPrepared e) => FundFold.Applying(this, e);

    public Fund Apply(RoundCancelled e) => FundFold.Applying(this, e);

    public Fund Apply(RoundReleased e) => FundFold.Applying(this, e);

    public Fund Apply(PayoutSettled e) => FundFold.Applying(this, e);

    public Fund Apply(PayoutReturned e) => FundFold.Applying(this, e);

    public Fund Apply(PayoutReissuePrepared e) => FundFold.Applying(this, e);

    public Fund Apply(PayoutReissueWithdrawn e) => FundFold.Applying(this, e);

    public Fund Apply(PayoutReissued e) => FundFold.Applying(this, e);

    /// <summary>
    /// The statement is known by its id only: its lines are in its event and in the report table <c>report_statement_lines</c>
    /// (what <c>GET .../bank-statements/{id}</c> and the reconciliation read). Kept in the snapshot, a 10,000-line statement added
    /// megabytes to a document every later decision on the fund loads and rewrites (issue #7).
    /// </summary>
    public Fund Apply(BankStatementImported e) => FundFold.Applying(this, e);

    /// <summary>The ids of the bank statements imported (their lines: <see cref="Apply(BankStatementImported)"/>).</summary>
    public ImmutableSortedSet<string> StatementIds { get; init; } = ImmutableSortedSet.Create<string>(StringComparer.Ordinal);

    /// <summary>
    /// Whether the statement was imported: by its id, or in <see cref="Statements"/>, where snapshots written before the ids were
    /// kept alone still hold whole statements (a rebuild of the Fund snapshot moves them to <see cref="StatementIds"/>).
    /// </summary>
    public bool HasStatement(string statementId) => StatementIds.Contains(statementId) || Statements.ContainsKey(statementId);

    /// <summary>Folds any fund event; for replay in specs, the property test and as-of reads.</summary>
    public static Fund? Fold(Fund? fund, object e) => FundFold.Fold(fund, [e]);

    /// <summary>
    /// Folds any number of fund events at once, as <see cref="Fold(Fund?, object)"/> one after the other would (the same fund, the
    /// version one more per event), but through one set of builders: a decision's ten thousand settlements or a rebuild's stream
    /// touch each changed branch of the entitlement and payout trees once per call instead of copying it per event.
    /// </summary>
    public static Fund? Fold(Fund? fund, IEnumerable<object> events) => FundFold.Fold(fund, events);

    /// <summary>The rebuild's fold (<see cref="Infrastructure.IFoldsMany{TSelf}"/>): as <see cref="Fold(Fund?, IEnumerable{object})"/>, the version set to the stream's.</summary>
    /// <remarks>
    /// The snapshot keeps no entitlements or payouts, so the rebuild folds the books without them: the fund it folds onto (a chunk of
    /// the stream at a time) holds none, and those a chunk records are dropped at its end instead of piling up for the whole stream.
    /// </remarks>
    public static Fund? FoldMany(Fund? fund, IReadOnlyList<object> events, long streamVersion)
    {
        IReadOnlyList<object> rest = events;
        if (fund is null)
        {
            // The fund as established, holding none of its entitlements and payouts from the start (NotInSnapshot: the rebuild may
            // leave out the events that record them).
            if (events.Count == 0) return null;
            fund = FundFold.Fold(null, [events[0]])!; // refuses a stream that does not begin with the fund established
            rest = events.Skip(1).ToArray();
        }
        var folded = FundFold.Fold(fund with { Complete = false }, rest)!;
        return folded with
        {
            Version = checked((int)streamVersion), Complete = false,
            Entitlements = ImmutableDictionary<Guid, Entitlement>.Empty, Payouts = ImmutableDictionary<Guid, Payout>.Empty,
        };
    }

    /// <summary>
    /// What the snapshot stores nothing of (<see cref="Infrastructure.IFoldsMany{TSelf}.NotInSnapshot"/>): an entitlement recorded (its
    /// row is the fund report projection's), a reissue prepared or withdrawn (on the payout's row). Half of a fund's events are
    /// entitlements recorded; the Fund snapshot's rebuild reads and parses none of them.
    /// </summary>
    public static IReadOnlyCollection<Type> NotInSnapshot { get; } = [typeof(EntitlementRecorded), typeof(PayoutReissuePrepared), typeof(PayoutReissueWithdrawn)];

    /// <summary>The business instant of a fund event.</summary>
    public static Instant OccurredAt(object e) => e switch
    {
        FundEstablished x => x.EstablishedAt,
        PolicyVersionAdded x => x.AddedAt,
        FundCoversCase x => x.CoveredAt,
        PoolOpened x => x.OpenedAt,
        PoolDeposited x => x.RecordedAt,
        EntitlementRecorded x => x.RecordedAt,
        RoundPrepared x => x.PreparedAt,
        RoundCancelled x => x.CancelledAt,
        RoundReleased x => x.ReleasedAt,
        PayoutSettled x => x.SettledAt,
        PayoutReturned x => x.ReturnedAt,
        PayoutReissuePrepared x => x.PreparedAt,
        PayoutReissueWithdrawn x => x.WithdrawnAt,
        PayoutReissued x => x.ReissuedAt,
        BankStatementImported x => x.ImportedAt,
        _ => throw new ArgumentException($"Not a fund event: {e.GetType().Name}", nameof(e)),
    };

    public static Fund Replay(IEnumerable<object> events) => Fold(null, events)!;

    [JsonIgnore]
    public int MinorUnits => Currencies.MinorUnits(Currency) ?? 2;

    /// <summary>Money in the fund's currency, written without trailing zeros (500.00 and 500 are one amount; events compare by JSON).</summary>
    public Money Money(decimal amount) => new(Normalised(amount), Currency);

    public static decimal Normalised(decimal amount) => amount / 1.0000000000000000000000000000m;

    public Pool? GeneralPool => Pools.Values.FirstOrDefault(p => p.Kind == PoolKind.General);

    public Pool? PerpetratorPoolFor(Entitlement e) =>
        Pools.Values.OrderBy(p => p.Sequence).FirstOrDefault(p => p.Perpetrator?.Matches(e.CaseId, e.Platform, e.SupplierAccountId) == true);

    public PolicyVersion? PolicyInForce(Instant at) => Policy.InForce(Policies, at);

    /// <summary>
    /// A round's allocations: as prepared, or, once released, its payouts' claim lines (the release turned each allocation into one
    /// claim line; a reissue adds a payout outside the round's list with the same lines, so it is not counted twice). In the order the
    /// round was prepared in: claim reference, then claim id, then each claim's pools as allocated.
    /// </summary>
    public IReadOnlyList<RoundAllocation> AllocationsOf(Round round) => AllocationsOf(round, id => Payouts[id]);

    /// <summary>As <see cref="AllocationsOf(Round)"/>, with the round's payouts from elsewhere (their rows: <see cref="PayoutViews"/>).</summary>
    public static IReadOnlyList<RoundAllocation> AllocationsOf(Round round, Func<Guid, Payout> payout) =>
        !AllocationsFromPayouts(round)
            ? round.Allocations
            : round.PayoutIds.SelectMany(id => payout(id).PerClaim)
                .Select(l => new RoundAllocation(l.ClaimId, l.ClaimReference, l.PoolId, l.Amount))
                .OrderBy(a => a.ClaimReference, StringComparer.Ordinal).ThenBy(a => a.ClaimId)
                .ToArray();

    /// <summary>Whether a round's allocations are its payouts' claim lines: released, in a snapshot that dropped its allocations.</summary>
    public static bool AllocationsFromPayouts(Round round) =>
        round.Status == RoundStatus.Released && round.Allocations.Count == 0; // a snapshot written before released rounds dropped them holds them
}
