using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using Marten;

namespace CompensationLedger.IntegrationTests.Funds;

/// <summary>
/// Fund snapshots as they were written before the fund's entitlements and payouts became rows of their own (issue #7): holding
/// every one of them. The migrations of that time (0007, 0013, 0015) fill their tables from them, and a database upgraded from then
/// still has them.
/// </summary>
internal static class OlderFundSnapshots
{
    /// <summary>Puts each fund's payouts, as its events make them, back in its snapshot (every fund when none is named).</summary>
    public static Task PutPayoutsBackAsync(IDocumentStore store, params Guid[] fundIds) =>
        PutBackAsync(store, fundIds, ("payouts", fund => fund.Payouts.ToDictionary(p => p.Key.ToString(), p => (object)p.Value)));

    /// <summary>Puts each fund's entitlements and payouts, as its events make them, back in its snapshot (every fund when none is named).</summary>
    public static Task PutEntitlementsAndPayoutsBackAsync(IDocumentStore store, params Guid[] fundIds) =>
        PutBackAsync(store, fundIds,
            ("entitlements", fund => fund.Entitlements.ToDictionary(e => e.Key.ToString(), e => (object)e.Value)),
            ("payouts", fund => fund.Payouts.ToDictionary(p => p.Key.ToString(), p => (object)p.Value)));

    private static async Task PutBackAsync(IDocumentStore store, Guid[] fundIds, params (string Member, Func<Fund, Dictionary<string, object>> Of)[] members)
    {
        await using var session = store.LightweightSession();
        var table = store.Options.FindOrResolveDocumentType(typeof(Fund)).TableName.QualifiedName;
        IReadOnlyList<Guid> funds = fundIds.Length > 0 ? fundIds : await session.QueryAsync<Guid>($"select id from {table}");
        var serializer = store.Options.Serializer();
        foreach (var fundId in funds)
        {
            var whole = (await session.Events.AggregateStreamAsync<Fund>(fundId))!;
            foreach (var (member, of) in members)
                session.QueueSqlCommand($"update {table} set data = jsonb_set(data, '{{{member}}}', ?::jsonb) where id = ?",
                    serializer.ToJson(of(whole).ToDictionary(p => p.Key, p => p.Value)), fundId);
        }
        await session.SaveChangesAsync();
    }
}
