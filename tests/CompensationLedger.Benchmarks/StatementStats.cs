using System.Globalization;
using Npgsql;

namespace CompensationLedger.Benchmarks;

/// <summary>
/// PostgreSQL's own account of where its time went (pg_stat_statements), for a run whose cluster was started with
/// <c>LEDGER_POSTGRES_OPTIONS="-c shared_preload_libraries=pg_stat_statements"</c>; without it these do nothing.
/// </summary>
public static class StatementStats
{
    /// <summary>Clears the counters of every database of the cluster; false when the extension is not loaded.</summary>
    public static async Task<bool> ResetAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        try
        {
            await using var create = new NpgsqlCommand("create extension if not exists pg_stat_statements; select pg_stat_statements_reset();", connection);
            await create.ExecuteNonQueryAsync();
            return true;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectNotInPrerequisiteState)
        {
            return false;
        }
    }

    /// <summary>The statements that took the most server time since the reset, one line each, with the database they ran in.</summary>
    public static async Task<IReadOnlyList<string>> TopAsync(string connectionString, int count)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var read = new NpgsqlCommand("""
            select d.datname, s.calls, s.total_exec_time, s.rows, left(regexp_replace(s.query, '\s+', ' ', 'g'), 140), s.wal_bytes::bigint, s.wal_fpi, s.max_exec_time
            from pg_stat_statements s join pg_database d on d.oid = s.dbid
            order by s.total_exec_time desc limit @count
            """, connection);
        read.Parameters.AddWithValue("count", count);
        await using var reader = await read.ExecuteReaderAsync();
        var lines = new List<string>();
        while (await reader.ReadAsync())
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"pg_stat_statements ({reader.GetString(0)}): {reader.GetDouble(2):N0} ms in {reader.GetInt64(1):N0} calls (mean {reader.GetDouble(2) / Math.Max(1, reader.GetInt64(1)):0.000} ms, max {reader.GetDouble(7):0.0} ms), {reader.GetInt64(3):N0} rows, {reader.GetInt64(5) / 1048576.0:N1} MB of WAL ({reader.GetInt64(6):N0} page images): `{reader.GetString(4)}`"));
        return lines;
    }
}
