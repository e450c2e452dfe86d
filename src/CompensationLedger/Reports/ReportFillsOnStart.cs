using Marten;
using Npgsql;
using static CompensationLedger.Reports.FundReportProjection;

namespace CompensationLedger.Reports;

/// <summary>
/// Outside Production, where Marten creates new tables and columns itself on start instead of the migrations: fills what a migration
/// fills in Production, when it is missing, from what the database already holds. Without it a database kept from before them (the
/// embedded quick start's data directory is kept between runs) would have empty new tables beside a full history:
/// <list type="bullet">
/// <item>the payout rows' views (<c>issued</c> ... of <see cref="PayoutsTable"/>) of rows written before those columns, from the fund
/// snapshots, as <c>migrations/0013</c> does (<see cref="ReportFills.PayoutViewsFromSnapshotsSql"/>): needed while the snapshots still
/// hold the payouts, which they will not for long;</item>
/// <item>the entitlement rows (<see cref="EntitlementsTable"/>) when the table is empty and a fund snapshot holds entitlements, as
/// <c>migrations/0015</c> does (<see cref="ReportFills.EntitlementsFromSnapshotsSql"/>, the same statement);</item>
/// <item>the payout register's day totals (<see cref="PayoutDaysTable"/>) when the table is empty and payouts exist, as
/// <c>migrations/0014</c> does: without them the register would show totals without the payouts issued before, while its lines list them.</item>
/// </list>
/// A table already filled is left alone, so this costs three cheap queries on every later start.
/// </summary>
public sealed class ReportFillsOnStart(IDocumentStore store, ILogger<ReportFillsOnStart> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var schema = store.Options.DatabaseSchemaName;
        string T(string table) => $"{schema}.{table}";
        await using var connection = (NpgsqlConnection)store.Storage.Database.CreateConnection();
        await connection.OpenAsync(cancellationToken);

        if (await FillAsync(connection, T(PayoutsTable), $"exists (select 1 from {T(PayoutsTable)} where issued is null)",
                ReportFills.PayoutViewsFromSnapshotsSql(schema), cancellationToken) is { } views)
            logger.LogInformation("Filled the payout views of {Payouts} payout rows from the fund snapshots (rows written before those columns)", views);

        if (await FillAsync(connection, T(EntitlementsTable),
                $"not exists (select 1 from {T(EntitlementsTable)}) and exists (select 1 from {schema}.mt_doc_fund where data -> 'entitlements' <> '{{}}'::jsonb)",
                ReportFills.EntitlementsFromSnapshotsSql(schema), cancellationToken) is { } entitlements)
            logger.LogInformation("Filled {Entitlements} entitlement rows from the fund snapshots (a database from before {Table})", entitlements, EntitlementsTable);

        if (await FillAsync(connection, T(PayoutDaysTable), $"not exists (select 1 from {T(PayoutDaysTable)}) and exists (select 1 from {T(PayoutsTable)})",
                PayoutDaysSql(schema, null), cancellationToken) is { } days)
            logger.LogInformation("Filled the payout register's day totals ({Days} fund days) from the payouts already recorded (a database from before them)", days);
    }

    /// <summary>
    /// Runs <paramref name="fill"/> if <paramref name="needed"/> holds, and returns the rows it wrote; null when not needed. The table is
    /// locked against the projection's writes while it is checked again and filled: a transaction recording an event meanwhile waits, then
    /// applies its event on top of the filled rows (which hold the snapshots as they were before it), instead of changing rows not there yet.
    /// </summary>
    private static async Task<int?> FillAsync(NpgsqlConnection connection, string table, string needed, string fill, CancellationToken ct)
    {
        if (!await NeededAsync(connection, null, needed, ct)) return null;
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var locking = new NpgsqlCommand($"lock table {table} in exclusive mode", connection, tx)) await locking.ExecuteNonQueryAsync(ct);
        if (!await NeededAsync(connection, tx, needed, ct)) return null;
        await using var command = new NpgsqlCommand(fill, connection, tx);
        var rows = await command.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
        return rows;
    }

    private static async Task<bool> NeededAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string needed, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"select {needed}", connection, tx);
        return (bool)(await command.ExecuteScalarAsync(ct))!;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// The fills of report tables from the fund snapshots, one text each for the migration that runs it in Production and for
/// <see cref="ReportFillsOnStart"/> elsewhere (the migrations hold the text for schema <c>ledger</c>; a test holds them equal).
/// </summary>
public static class ReportFills
{
    /// <summary>
    /// Every entitlement of every fund snapshot (<c>mt_doc_fund.data -> 'entitlements'</c>: <see cref="Funds.Entitlement"/> by claim id, in
    /// camelCase, zero amounts and a null buyer key left out: read back as 0 and null) as the row the projection keeps for it, with the
    /// snapshot's version: the version of the fund's last event, at least that of the last event applied to each entitlement, so a later
    /// event applies and an earlier one replayed does not. A row already there is left as it is.
    /// </summary>
    public static string EntitlementsFromSnapshotsSql(string schema) =>
        $"""
         insert into {schema}.{EntitlementsTable} (fund_id, claim_id, claim_reference, case_id, platform, supplier_account_id, buyer_country, amount, allocated, in_transit, settled, buyer_key, version)
         select f.id, e.key::uuid, e.value ->> 'claimReference', (e.value ->> 'caseId')::uuid, e.value ->> 'platform', e.value ->> 'supplierAccountId', e.value ->> 'buyerCountry',
                (e.value ->> 'amount')::numeric, coalesce((e.value ->> 'allocated')::numeric, 0), coalesce((e.value ->> 'inTransit')::numeric, 0),
                coalesce((e.value ->> 'settled')::numeric, 0), e.value ->> 'buyerKey', (f.data ->> 'version')::bigint
         from {schema}.mt_doc_fund f, jsonb_each(f.data -> 'entitlements') e
         on conflict (fund_id, claim_id) do nothing
         """;

    /// <summary><c>migrations/0013</c>'s fill of the payout rows' views from the payouts of the fund snapshots (rows whose <c>issued</c> is null).</summary>
    public static string PayoutViewsFromSnapshotsSql(string schema) =>
        $"""
         UPDATE {schema}.{PayoutsTable} r
         SET issued = p.value - 'status' - 'settledAt' - 'returnedAt' - 'returnReason' - 'reissuedAs' - 'pendingReissue',
             status = p.value ->> 'status',
             reissued_as = (p.value ->> 'reissuedAs')::uuid,
             pending_reissue = p.value -> 'pendingReissue'
         FROM (SELECT f.id AS fund_id, e.key, e.value FROM {schema}.mt_doc_fund f, jsonb_each(f.data -> 'payouts') e) p
         WHERE r.payout_id = p.key::uuid AND r.fund_id = p.fund_id AND r.issued IS NULL
         """;
}
