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

    /// <summary>
    /// Every entitlement of the buyers still owed money: what a round weighs (the claims still owed, and for the cap per buyer everything
    /// committed to their buyers). A fund mostly paid holds few; reading all 49,000 rows of one for a round of 36 allocations grew the
    /// service by 20-40 MB a round (issue #7).
    /// </summary>
    public static Task<ImmutableDictionary<Guid, Entitlement>> OfBuyersStillOwedAsync(IQuerySession session, Guid fundId, CancellationToken ct)
    {
        var table = Table(session);
        return ReadAsync(session,
            $"""
             select {Columns} from {table} e
             where e.fund_id = @fund
               and ((e.buyer_key is null and {StillOwed("e")} > 0)
                    or e.buyer_key in (select o.buyer_key from {table} o where o.fund_id = @fund and o.buyer_key is not null
                                                                 and {StillOwed("o")} > 0))
             """,
            ct, ("fund", fundId));
    }

    /// <summary>
    /// The fund view's totals over every entitlement of the fund, summed in SQL (<see cref="EntitlementTotals.Of"/> defines them over the
    /// fold's entitlements; the tests hold the two equal): what is owed, committed, settled and still owed, and what a round prepared
    /// now could still commit under the policy in force. Under a cap per buyer that is, buyer by buyer, the least of what their claims
    /// are still owed and what the cap leaves above everything committed to them (<see cref="BuyerCap.Owed"/> shares exactly that out
    /// claim by claim); without one, what is still owed. Summed here rather than read into the service: at 47,000 claims reading every
    /// row put the fund view at 237 ms p95 (issue #7, PROFILING.md).
    /// </summary>
    public static async Task<EntitlementTotals> TotalsAsync(IQuerySession session, Fund fund, NodaTime.Instant now, CancellationToken ct)
    {
        var cap = fund.PolicyInForce(now)?.CapPerBuyer;
        var table = Table(session);
        var stillOwed = StillOwed("e");
        // Without a cap, what a round could pay is what is still owed (the positive part, claim by claim). Under one it is per buyer,
        // so only the buyers still owed something are grouped (grouping all 49,000 buyers of a paid-up fund took 140-200 ms).
        var payable = cap is null
            ? $"coalesce(sum(greatest({stillOwed}, 0)), 0)"
            : $"""
               (select coalesce(sum(least(b.owed, greatest(@cap - b.committed, 0))), 0)
                from (select sum(greatest({stillOwed}, 0)) as owed, sum(e.allocated + e.in_transit + e.settled) as committed
                      from {table} e
                      where e.fund_id = @fund
                        and (e.buyer_key in (select o.buyer_key from {table} o where o.fund_id = @fund and o.buyer_key is not null
                                                                             and {StillOwed("o")} > 0)
                             or (e.buyer_key is null and {stillOwed} > 0))
                      group by e.buyer_key, case when e.buyer_key is null then e.claim_id end) b)
               """;
        var rows = await ReportSql.ReadAsync(session,
            $"""
             select count(*)::int, coalesce(sum(e.amount), 0), coalesce(sum(e.allocated + e.in_transit + e.settled), 0), coalesce(sum(e.settled), 0),
                    coalesce(sum({stillOwed}), 0), {payable}
             from {table} e where e.fund_id = @fund
             """,
            r => new EntitlementTotals(r.GetInt32(0), fund.Money(r.GetDecimal(1)), fund.Money(r.GetDecimal(2)), fund.Money(r.GetDecimal(3)),
                fund.Money(r.GetDecimal(4)), fund.Money(r.GetDecimal(5))),
            ct, ("fund", fund.Id), ("cap", cap?.Amount ?? 0m));
        return rows[0];
    }

    /// <summary>
    /// A page of the fund's entitlements in claim reference order (ordinal), all of them or those still owed money, with their count:
    /// the page by SQL, not every row read to show fifty (a page took 343 ms p95 at 47,000 claims reading them all; issue #7).
    /// </summary>
    public static async Task<(IReadOnlyList<Entitlement> Items, long Total)> PageAsync(IQuerySession session, Guid fundId, bool stillOwed, int page, int pageSize, CancellationToken ct)
    {
        var owed = $"(not @still_owed or {StillOwed("e")} > 0)";
        (string, object)[] parameters = [("fund", fundId), ("still_owed", stillOwed)];
        var total = (await ReportSql.ReadAsync(session, $"select count(*) from {Table(session)} e where e.fund_id = @fund and {owed}", r => r.GetInt64(0), ct, parameters))[0];
        var items = await ReportSql.ReadAsync(session,
            $"""
             select {Columns} from {Table(session)} e where e.fund_id = @fund and {owed}
             order by e.claim_reference collate "C", e.claim_id offset @skip limit @take
             """,
            Read, ct, [.. parameters, ("skip", (long)(page - 1) * pageSize), ("take", pageSize)]);
        return (items, total);
    }

    /// <summary>What a row is still owed (its entitlement less what is allocated, in transit and settled), in SQL, for the row alias <paramref name="row"/>.</summary>
    private static string StillOwed(string row) => $"({row}.amount - {row}.allocated - {row}.in_transit - {row}.settled)";

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
