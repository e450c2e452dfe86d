using System.Security.Cryptography;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using NodaTime;

namespace CompensationLedger.StatusLookup;

/// <summary>The outcome of a buyer's lookup: their claim's status, no match, or "wait".</summary>
public abstract record LookupOutcome
{
    public sealed record Found(BuyerClaimStatus Status) : LookupOutcome;

    public sealed record NoMatch : LookupOutcome;

    public sealed record TooManyTries(Duration Wait) : LookupOutcome;

    public sealed record Refused(Refusal Refusal) : LookupOutcome;
}

/// <summary>
/// What the buyer API and the buyer web page share: checking a reference and access code, and
/// recording a buyer's answer to an information request. An unknown reference and a wrong code
/// take the same path (a hash comparison in constant time against a stand-in when there is no
/// claim) and give the same answer, so a lookup reveals nothing about which references exist.
/// </summary>
public static class BuyerLookups
{
    public const string BuyerActor = "buyer (status page)";
    public const int MaxReferenceLength = 40;
    public const int MaxAccessCodeLength = 64;

    // A hash no access code produces in practice, compared against when the reference is unknown.
    private static readonly byte[] StandIn = RandomNumberGenerator.GetBytes(32);

    public static string ClientAddress(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    public static async Task<LookupOutcome> LookUp(IQuerySession session, LookupGuard guard, string client, string reference, string accessCode, CancellationToken ct)
    {
        if (guard.Admit(client, reference) is { } wait) return new LookupOutcome.TooManyTries(wait);

        // One round trip: the access row and the claim, and the claim's events and payments found through the same reference. The
        // events and payments are read for any existing reference but used only when the code matches; the answer's bytes for
        // "unknown reference" and "wrong code" stay the same (NoMatch), as before.
        var canonical = Canonical(reference);
        var reads = session.CreateBatchQuery();
        var credentials = Read(reads, canonical);
        var eventsRead = reads.Query<EventRow>(EventsByReferenceSql(session), canonical);
        var paymentsRead = reads.Query<PaymentRow>(PaymentsSql(session, ClaimIdByReferenceSql(session)), canonical);
        await reads.Execute(ct);

        var (access, claim) = await credentials;
        if (!Matches(guard, reference, access, accessCode)) return new LookupOutcome.NoMatch();
        if (claim is null || claim.Id != access!.Id)
        {
            // The claim's reference and its access row disagree (never written so; kept from the two-step path): read by the access row's id.
            claim = await session.LoadAsync<Claim>(access!.Id, ct);
            return claim is null ? new LookupOutcome.NoMatch() : new LookupOutcome.Found(await StatusOf(session, claim, ct));
        }
        var serializer = session.DocumentStore.Options.Serializer();
        var events = (await eventsRead).Select(e => e.ToEvent(serializer)).ToArray();
        var payments = (await paymentsRead).Select(r => r.ToPayment()).ToArray();
        return new LookupOutcome.Found(BuyerStatus.FromPayments(claim, events, payments));
    }

    /// <summary>Records the buyer's answer to the open information request, exactly as a handler's would be (same decision).</summary>
    public static async Task<LookupOutcome> Answer(IDocumentSession session, LookupGuard guard, IClock clock, string client, string reference, string accessCode,
        RecordInformationResponse answer, CancellationToken ct)
    {
        if (guard.Admit(client, reference) is { } wait) return new LookupOutcome.TooManyTries(wait);
        var claim = await Authenticate(session, guard, reference, accessCode, ct);
        if (claim is null) return new LookupOutcome.NoMatch();

        var stream = await session.Events.FetchForWriting<Claim>(claim.Id, ct);
        var decision = RecordInformationResponseEndpoint.Decide(stream.Aggregate!, answer, BuyerActor, clock.GetCurrentInstant());
        if (decision.Refusal is { } refusal) return new LookupOutcome.Refused(refusal with { Detail = ForBuyer(refusal) });
        stream.AppendMany(decision.Events);
        await session.SaveChangesAsync(ct);

        var updated = decision.Events.Aggregate(stream.Aggregate!, Claim.Applying);
        return new LookupOutcome.Found(await StatusOf(session, updated, ct));
    }

    private static async Task<Claim?> Authenticate(IQuerySession session, LookupGuard guard, string reference, string accessCode, CancellationToken ct)
    {
        // The access row and the claim in one round trip (both by their unique reference); the claim is used only when the code matches.
        var reads = session.CreateBatchQuery();
        var credentials = Read(reads, Canonical(reference));
        await reads.Execute(ct);
        var (access, claim) = await credentials;
        if (!Matches(guard, reference, access, accessCode)) return null;
        return claim is { } found && found.Id == access!.Id ? found : await session.LoadAsync<Claim>(access!.Id, ct);
    }

    private const string ByReference = "where d.data ->> 'reference' = ?";

    private static string Canonical(string reference) => reference.Trim().ToUpperInvariant();

    /// <summary>The access row and the claim by their unique reference, added to a batch.</summary>
    private static async Task<(ClaimAccess? Access, Claim? Claim)> Read(Marten.Services.BatchQuerying.IBatchedQuery reads, string canonical)
    {
        // A where clause of SQL, not LINQ: each lookup parsed the two LINQ expressions again (3-4 % of a lookup's CPU). Both match the
        // unique index on the reference, Marten's own expression for it.
        var accessRead = reads.Query<ClaimAccess>(ByReference, canonical);
        var claimRead = reads.Query<Claim>(ByReference, canonical);
        return ((await accessRead).SingleOrDefault(), (await claimRead).SingleOrDefault());
    }

    /// <summary>
    /// The code checked in constant time (against a stand-in hash when the reference is unknown, so both take the same path); the
    /// guard counts the failure or clears the reference's count.
    /// </summary>
    private static bool Matches(LookupGuard guard, string reference, ClaimAccess? access, string accessCode)
    {
        var expected = access is null ? StandIn : Convert.FromHexString(access.CodeHash);
        var given = Convert.FromHexString(AccessCodes.Hash(accessCode));
        if (!CryptographicOperations.FixedTimeEquals(expected, given) || access is null)
        {
            guard.Failed(reference);
            return false;
        }
        guard.Succeeded(reference);
        return true;
    }

    /// <summary>The claim's id by its reference (one parameter), through the access row's unique index on the reference.</summary>
    private static string ClaimIdByReferenceSql(IQuerySession session) =>
        $"(select a.id from {session.DocumentStore.Options.FindOrResolveDocumentType(typeof(ClaimAccess)).TableName.QualifiedName} a where a.data ->> 'reference' = ?)";

    /// <summary>A claim's events, in stream order, found by the claim's reference through its access row: each event's .NET type and JSON.</summary>
    private static string EventsByReferenceSql(IQuerySession session)
    {
        var events = session.DocumentStore.Options.Events.DatabaseSchemaName + ".mt_events";
        return $"""
                select jsonb_build_object('type', e.mt_dotnet_type, 'data', e.data)
                from {events} e
                where e.stream_id = {ClaimIdByReferenceSql(session)}
                order by e.version
                """;
    }

    /// <summary>A row of <see cref="EventsByReferenceSql"/>: the event's .NET type name (as Marten stores it) and its JSON.</summary>
    public sealed record EventRow(string Type, System.Text.Json.JsonElement Data)
    {
        private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Type> Types = new();

        public object ToEvent(Marten.ISerializer serializer)
        {
            var type = Types.GetOrAdd(Type, name => System.Type.GetType(name, throwOnError: true)!);
            // The element's own UTF-8 bytes, not a string of them first.
            using var json = new MemoryStream(System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(Data).ToArray(), writable: false);
            return serializer.FromJson(type, json);
        }
    }

    private static async Task<BuyerClaimStatus> StatusOf(IQuerySession session, Claim claim, CancellationToken ct)
    {
        // The claim's events and its payments (from the payout report tables, not the fund document) in one round trip.
        var reads = session.CreateBatchQuery();
        var eventsRead = reads.Events.FetchStream(claim.Id);
        var paymentsRead = reads.Query<PaymentRow>(PaymentsSql(session, "?"), claim.Id);
        await reads.Execute(ct);
        var events = await eventsRead;
        var payments = (await paymentsRead).Select(r => r.ToPayment()).ToArray();
        return BuyerStatus.FromPayments(claim, events.Select(e => e.Data), payments);
    }

    /// <summary>
    /// The payouts that pay a claim, with this claim's part: <c>report_payout_claims</c> by claim, joined to <c>report_payouts</c>;
    /// <paramref name="claimId"/> is the SQL that gives the claim's id (a parameter, or a subquery).
    /// </summary>
    private static string PaymentsSql(IQuerySession session, string claimId)
    {
        var schema = session.DocumentStore.Options.DatabaseSchemaName;
        return $"""
                select jsonb_build_object('amount', p.amount, 'currency', p.currency, 'claimReferences', p.claim_reference, 'part', c.amount,
                  'issuedAtNs', p.issued_at_ns, 'settledAtNs', p.settled_at_ns, 'returnedAtNs', p.returned_at_ns,
                  'reissued', exists (select 1 from {schema}.{Reports.FundReportProjection.PayoutsTable} r where r.reissue_of = p.payout_id))
                from {schema}.{Reports.FundReportProjection.PayoutClaimsTable} c
                join {schema}.{Reports.FundReportProjection.PayoutsTable} p on p.payout_id = c.payout_id
                where c.claim_id = {claimId}
                """;
    }

    /// <summary>A row of <see cref="PaymentsSql"/>.</summary>
    public sealed record PaymentRow(decimal Amount, string Currency, string ClaimReferences, decimal Part, long IssuedAtNs, long? SettledAtNs, long? ReturnedAtNs, bool Reissued)
    {
        public ClaimPayment ToPayment()
        {
            Instant? settled = SettledAtNs is { } s ? Reports.ReportTime.FromNs(s) : null;
            Instant? returned = ReturnedAtNs is { } r ? Reports.ReportTime.FromNs(r) : null;
            // The later of the two is the payout's state, as the fund's events leave it.
            var status = settled is { } x && (returned is null || x > returned) ? Funds.PayoutStatus.Settled
                : returned is not null ? Funds.PayoutStatus.Returned : Funds.PayoutStatus.InTransit;
            return new ClaimPayment(status, Reports.ReportTime.FromNs(IssuedAtNs), settled, returned, Reissued, new Money(Amount, Currency),
                new Money(Funds.Fund.Normalised(Part), Currency), ClaimReferences.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
    }

    private static string ForBuyer(Refusal refusal) => refusal.Code switch
    {
        "information-deadline-passed" => "The deadline for this request has passed, so the claim closes. Contact the fund with your claim reference.",
        _ => "There is no open request for information on this claim, so there is nothing to answer.",
    };
}
