using System.Collections.Immutable;
using CompensationLedger.Reports;
using Marten;
using Npgsql;

namespace CompensationLedger.Funds;

/// <summary>
/// A fund's entitlements read from their rows (<c>fund_entitlements</c>, <see cref="FundReportProjection.EntitlementRow"/>, kept inline
/// with the fund's events) instead of the fund's snapshot, which holds all of them: at 47,000 claims the snapshot is 49 MB and every
/// money decision loaded and rewrote it (2.7-3.3 s, over 1 GB of memory; issue #7). Each read returns the <see cref="Entitlement"/>
/// records <see cref="FundFold"/> makes of the same events, keyed by claim as <see cref="Fund.Entitlements"/> is (the integration tests
/// hold them equal), so a decision can be given them in place of the snapshot's.
/// </summary>
public static class EntitlementRows
{
    // Only what an Entitlement holds, in its constructor's order (Read): the fund is the caller's and the version is the projection's.
    private const string Columns =
        "e.claim_id, e.claim_reference, e.case_id, e.platform, e.supplier_account_id, e.buyer_country, e.amount, e.allocated, e.in_transit, e.settled, e.buyer_key";

    /// <summary>Every entitlement of the fund (none for an unknown fund).</summary>
    public static Task<ImmutableDictionary<Guid, Entitlement>> OfFundAsync(IQuerySession session, Guid fundId, CancellationToken ct) =>
        ReadAsync(session, $"select {Columns} from {Table(session)} e where e.fund_id = @fund", ct, ("fund", fundId));

    /// <summary>The entitlements of these claims in the fund; a claim the fund does not owe is left out.</summary>
    public static Task<ImmutableDictionary<Guid, Entitlement>> OfClaimsAsync(IQuerySession session, Guid fundId, IReadOnlyCollection<Guid> claimIds, CancellationToken ct) =>
        claimIds.Count == 0
            ? Task.FromResult(ImmutableDictionary<Guid, Entitlement>.Empty)
            : ReadAsync(session, $"select {Columns} from {Table(session)} e where e.fund_id = @fund and e.claim_id = any(@claims)", ct,
                ("fund", fundId), ("claims", claimIds.ToArray()));

    /// <summary>
    /// Every entitlement of the buyers of these claims, the claims' own included: those with the same buyer key as one of them (a round
    /// pays each buyer once, over all of their claims), and a claim without a buyer key alone, being its own buyer (<see cref="Entitlement.Payee"/>).
    /// </summary>
    public static Task<ImmutableDictionary<Guid, Entitlement>> OfBuyersOfAsync(IQuerySession session, Guid fundId, IReadOnlyCollection<Guid> claimIds, CancellationToken ct)
    {
        if (claimIds.Count == 0) return Task.FromResult(ImmutableDictionary<Guid, Entitlement>.Empty);
        var table = Table(session);
        // The claims by their primary key, then the other claims of their buyers by the buyer key's index (an "or" of the two would
        // read the fund's every row).
        return ReadAsync(session,
            $"""
             with asked as (select {Columns} from {table} e where e.fund_id = @fund and e.claim_id = any(@claims))
             select * from asked
             union all
             select {Columns} from {table} e
             where e.fund_id = @fund and e.buyer_key in (select a.buyer_key from asked a where a.buyer_key is not null) and e.claim_id <> all(@claims)
             """,
            ct, ("fund", fundId), ("claims", claimIds.ToArray()));
    }

    private static string Table(IQuerySession session) => $"{session.DocumentStore.Options.DatabaseSchemaName}.{FundReportProjection.EntitlementsTable}";

    /// <summary>
    /// The rows as a dictionary by claim. Measured at 47,000 rows of one fund: ~40-60 ms reading, ~20 ms building the dictionary, 21 MB
    /// allocated (the records and their strings). Sharing the repeated strings (platform, supplier account, country) by reading their
    /// characters into a buffer and looking them up was slower (Npgsql's GetChars) and allocated as much, so every string is read as it is.
    /// </summary>
    private static async Task<ImmutableDictionary<Guid, Entitlement>> ReadAsync(IQuerySession session, string sql, CancellationToken ct, params (string Name, object Value)[] parameters)
    {
        var rows = await ReportSql.ReadAsync(session, sql, Read, ct, parameters);
        var entitlements = ImmutableDictionary.CreateBuilder<Guid, Entitlement>();
        foreach (var e in rows) entitlements.Add(e.ClaimId, e);
        return entitlements.ToImmutable();
    }

    private static Entitlement Read(NpgsqlDataReader r) =>
        new(r.GetFieldValue<Guid>(0), r.GetFieldValue<string>(1), r.GetFieldValue<Guid>(2), r.GetFieldValue<string>(3), r.GetFieldValue<string>(4),
            r.GetFieldValue<string>(5), r.GetFieldValue<decimal>(6), r.GetFieldValue<decimal>(7), r.GetFieldValue<decimal>(8), r.GetFieldValue<decimal>(9),
            r.IsDBNull(10) ? null : r.GetFieldValue<string>(10));
}
