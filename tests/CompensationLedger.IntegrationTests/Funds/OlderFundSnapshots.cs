using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using Marten;

namespace CompensationLedger.IntegrationTests.Funds;

/// <summary>
/// Fund snapshots as they were written before the fund's payouts became rows of their own (issue #7): holding every payout. The
/// migrations of that time (0007, 0013) fill their tables from them, and a database upgraded from then still has them.
/// </summary>
internal static class OlderFundSnapshots
{
    /// <summary>Puts each fund's payouts, as its events make them, back in its snapshot (every fund when none is named).</summary>
    public static async Task PutPayoutsBackAsync(IDocumentStore store, params Guid[] fundIds)
    {
        await using var session = store.LightweightSession();
        var table = store.Options.FindOrResolveDocumentType(typeof(Fund)).TableName.QualifiedName;
        IReadOnlyList<Guid> funds = fundIds.Length > 0 ? fundIds : await session.QueryAsync<Guid>($"select id from {table}");
        var serializer = store.Options.Serializer();
        foreach (var fundId in funds)
        {
            var whole = (await session.Events.AggregateStreamAsync<Fund>(fundId))!;
            var json = serializer.ToJson(whole.Payouts.ToDictionary(p => p.Key.ToString(), p => p.Value));
            session.QueueSqlCommand($"update {table} set data = jsonb_set(data, '{{payouts}}', ?::jsonb) where id = ?", json, fundId);
        }
        await session.SaveChangesAsync();
    }
}
