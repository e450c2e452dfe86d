using Marten;
using Npgsql;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// What the rebuilds that build beside the live tables and swap in (<see cref="Reports.ClaimTotalsRebuild"/>,
/// <see cref="Reports.FundReportsRebuild"/>, <see cref="SnapshotRebuild{T}"/>) share: their connections, one rebuild of a projection
/// at a time, the clean-up, and where a snapshot of the event log stands.
/// </summary>
internal static class SwapInRebuild
{
    public static async Task<NpgsqlConnection> OpenAsync(IDocumentStore store, CancellationToken ct)
    {
        var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(ct);
        return connection;
    }

    public static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct, NpgsqlTransaction? tx = null)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// One rebuild of a projection at a time: a second would drop the first one's tables under it. A session lock on
    /// <paramref name="writer"/>, released by <see cref="EndAsync"/> (a pooled connection's session outlives its closing), or by
    /// PostgreSQL if this process dies.
    /// </summary>
    public static async Task LockAsync(NpgsqlConnection writer, string lockName, string projection, CancellationToken ct)
    {
        await using var guard = new NpgsqlCommand("select pg_try_advisory_lock(hashtext(@name))", writer);
        guard.Parameters.AddWithValue("name", lockName);
        if (!(bool)(await guard.ExecuteScalarAsync(ct))!)
            throw new InvalidOperationException($"Another rebuild of {projection} is running on this database; wait for it to finish.");
    }

    /// <summary>
    /// Drops the <paramref name="shadow"/> schema (gone after a swap, moved; or with whatever a failure left: the live tables are
    /// untouched until the swap commits) and releases the lock <see cref="LockAsync"/> took.
    /// </summary>
    public static async Task EndAsync(IDocumentStore store, NpgsqlConnection writer, string shadow, string lockName)
    {
        await using var cleanup = await OpenAsync(store, CancellationToken.None);
        await ExecuteAsync(cleanup, $"drop schema if exists {shadow} cascade", CancellationToken.None);
        if (writer.State != System.Data.ConnectionState.Open) return;
        await using var unlock = new NpgsqlCommand("select pg_advisory_unlock(hashtext(@name))", writer);
        unlock.Parameters.AddWithValue("name", lockName);
        await unlock.ExecuteScalarAsync(CancellationToken.None);
    }

    /// <summary>
    /// Where the snapshot of <paramref name="tx"/> stands in <paramref name="events"/>: its highest sequence number after
    /// <paramref name="after"/>, and the numbers below it that it does not hold (not committed yet, or rolled back), among them those
    /// of <paramref name="unseen"/> still missing. A rebuild reads those again in its next pass; a rolled-back number stays in the
    /// list, a few per failed append, so it stays short.
    /// </summary>
    public static async Task<(long Highest, long[] Missing)> SnapshotBoundsAsync(NpgsqlConnection reader, NpgsqlTransaction tx, string events,
        long after, long[] unseen, CancellationToken ct)
    {
        var missing = new List<long>();
        await using var gaps = new NpgsqlCommand(
            $"""
             select coalesce(max(seq_id), @after) from {events} where seq_id > @after;
             select n from unnest(@unseen) n where not exists (select 1 from {events} e where e.seq_id = n);
             select g.prev + 1, g.seq_id - 1 from (
                 select seq_id, lag(seq_id, 1, @after) over (order by seq_id) as prev from {events} where seq_id > @after) g
             where g.seq_id > g.prev + 1
             """, reader, tx);
        gaps.Parameters.AddWithValue("after", after);
        gaps.Parameters.AddWithValue("unseen", unseen);
        await using var r = await gaps.ExecuteReaderAsync(ct);
        await r.ReadAsync(ct);
        var highest = r.GetInt64(0);
        await r.NextResultAsync(ct);
        while (await r.ReadAsync(ct)) missing.Add(r.GetInt64(0));
        await r.NextResultAsync(ct);
        while (await r.ReadAsync(ct))
            for (var n = r.GetInt64(0); n <= r.GetInt64(1); n++) missing.Add(n);
        return (highest, [.. missing]);
    }
}
