using CompensationLedger.Cases;
using CompensationLedger.Reports;
using Marten;
using Npgsql;

namespace CompensationLedger.Funds;

/// <summary>
/// The payouts as <c>GET /api/payouts/{id}</c> and <c>GET /api/payouts</c> show them, read from their rows of
/// <c>report_payouts</c> (<see cref="FundReportProjection.PayoutRow"/>, kept inline with the fund's events). The fund's snapshot
/// keeps no payouts (<see cref="Fund.Payouts"/>): at 47,000 claims it was 49 MB, and reading it for one payout took ~1.8 s and the
/// list over four such funds ~7.4 s, with the service's memory at 1 GB (issue #7).
/// <para>
/// A row holds the payout as issued and a column for each thing the events after its issue change; together they are the
/// <see cref="Payout"/> the fund's fold makes (the integration tests hold every payout's view from its row to the view from the
/// fund's events). Rows written before those columns existed are filled by <c>migrations/0013</c> (outside Production, on start).
/// </para>
/// </summary>
public static class PayoutViews
{
    internal const string Columns = "fund_id, issued, status, settled_at_ns, returned_at_ns, return_reason, reissued_as, pending_reissue, payout_id";

    /// <summary>One payout, or null when there is none.</summary>
    public static async Task<PayoutView?> OneAsync(IQuerySession session, Guid payoutId, CancellationToken ct)
    {
        var serializer = session.DocumentStore.Options.Serializer();
        var rows = await ReportSql.ReadAsync(session, $"select {Columns} from {Table(session)} where payout_id = @payout",
            r => Read(r, serializer), ct, ("payout", payoutId));
        return rows.Count == 0 ? null : rows[0] ?? throw Unfilled(payoutId);
    }

    internal static InvalidOperationException Unfilled(Guid id) =>
        new($"The row of payout {id} lacks the payout as issued: run the migrations (migrations/0013_payout_views.sql fills it).");

    /// <summary>A page of payouts in reference order (ordinal), of one fund or all, of one status or any.</summary>
    public static async Task<PagedList<PayoutView>> PageAsync(IQuerySession session, Guid? fundId, PayoutStatus? status, int page, int pageSize, CancellationToken ct)
    {
        var serializer = session.DocumentStore.Options.Serializer();
        var table = Table(session);
        (string, object)[] parameters = [("fund", fundId ?? Guid.Empty), ("all_funds", fundId is null), ("status", status?.ToString() ?? ""), ("any_status", status is null)];
        const string fund = "(@all_funds or fund_id = @fund)";
        const string wanted = "(@any_status or status = @status)";
        var total = (await ReportSql.ReadAsync(session, $"select count(*) from {table} where {fund} and {wanted}", r => r.GetInt64(0), ct, parameters))[0];
        var items = await ReportSql.ReadAsync(session,
            $"""
             select {Columns} from {table} where {fund} and {wanted}
             order by reference collate "C", payout_id offset @skip limit @take
             """,
            r => Read(r, serializer) ?? throw Unfilled(r.GetGuid(8)), ct, [.. parameters, ("skip", (long)(page - 1) * pageSize), ("take", pageSize)]);
        return new PagedList<PayoutView>(items, page, pageSize, total);
    }

    /// <summary>
    /// The payouts a round issued (its reissues are not its own), in the order it issued them: their references are numbered in that
    /// order (<see cref="ReleaseRoundEndpoint.PayoutReference"/>), so by length and then ordinally, as a number past 99,999 is longer.
    /// </summary>
    public static async Task<IReadOnlyList<Payout>> OfRoundAsync(IQuerySession session, Guid roundId, CancellationToken ct)
    {
        var serializer = session.DocumentStore.Options.Serializer();
        return await ReportSql.ReadAsync(session,
            $"""
             select {Columns} from {Table(session)}
             where round_id = @round and reissue_of is null
             order by length(reference), reference collate "C"
             """,
            r => ReadPayout(r, serializer)?.Payout ?? throw Unfilled(r.GetGuid(8)), ct, ("round", roundId));
    }

    internal static string Table(IQuerySession session) => $"{session.DocumentStore.Options.DatabaseSchemaName}.{FundReportProjection.PayoutsTable}";

    /// <summary>The view of a row's payout, or null for a row without it.</summary>
    private static PayoutView? Read(NpgsqlDataReader r, ISerializer serializer) =>
        ReadPayout(r, serializer) is { } p ? PayoutView.From(p.FundId, p.Payout) : null;

    /// <summary>The payout of a row (its issue, then what happened to it since), or null for a row without them.</summary>
    internal static (Guid FundId, Payout Payout)? ReadPayout(NpgsqlDataReader r, ISerializer serializer)
    {
        if (r.IsDBNull(1)) return null;
        var issued = serializer.FromJson<Payout>(r, 1);
        var payout = issued with
        {
            Status = Enum.Parse<PayoutStatus>(r.GetString(2)),
            SettledAt = r.IsDBNull(3) ? null : ReportTime.FromNs(r.GetInt64(3)),
            ReturnedAt = r.IsDBNull(4) ? null : ReportTime.FromNs(r.GetInt64(4)),
            ReturnReason = r.IsDBNull(5) ? null : r.GetString(5),
            ReissuedAs = r.IsDBNull(6) ? null : r.GetGuid(6),
            PendingReissue = r.IsDBNull(7) ? null : serializer.FromJson<PendingReissue>(r, 7),
        };
        return (r.GetGuid(0), payout);
    }

}
