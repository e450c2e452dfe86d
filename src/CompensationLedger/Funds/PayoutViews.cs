using CompensationLedger.Cases;
using CompensationLedger.Reports;
using Marten;
using Npgsql;

namespace CompensationLedger.Funds;

/// <summary>
/// The payouts as <c>GET /api/payouts/{id}</c> and <c>GET /api/payouts</c> show them, read from their rows of
/// <c>report_payouts</c> (<see cref="FundReportProjection.PayoutRow"/>, kept inline with the fund's events) instead of the fund's
/// document, which holds every entitlement and payout of the fund: at 47,000 claims a fund's document is 49 MB, and reading it
/// for one payout took ~1.8 s and the list over four such funds ~7.4 s, with the service's memory at 1 GB (issue #7).
/// <para>
/// A row holds the payout as issued and a column for each thing the events after its issue change; together they are the
/// <see cref="Payout"/> the fund's fold makes (the integration tests hold every payout's view from its row to the view from the
/// fund's document). Rows written before those columns existed (a database upgraded without <c>migrations/0013</c>, which
/// fills them) have none: then the answer comes from the fund's document, as before.
/// </para>
/// </summary>
public static class PayoutViews
{
    private const string Columns = "fund_id, issued, status, settled_at_ns, returned_at_ns, return_reason, reissued_as, pending_reissue";

    /// <summary>One payout, or null when there is none.</summary>
    public static async Task<PayoutView?> OneAsync(IQuerySession session, Guid payoutId, CancellationToken ct)
    {
        var serializer = session.DocumentStore.Options.Serializer();
        var rows = await ReportSql.ReadAsync(session, $"select {Columns} from {Table(session)} where payout_id = @payout",
            r => Read(r, serializer), ct, ("payout", payoutId));
        if (rows is [{ } view]) return view;
        if (rows.Count == 0) return null;
        var fund = await FundStreams.OwnerOf(session, payoutId, FundIndexKind.Payout, ct);
        return fund is null ? null : PayoutView.From(fund, fund.Payouts[payoutId]);
    }

    /// <summary>A page of payouts in reference order (ordinal), of one fund or all, of one status or any.</summary>
    public static async Task<PagedList<PayoutView>> PageAsync(IQuerySession session, Guid? fundId, PayoutStatus? status, int page, int pageSize, CancellationToken ct)
    {
        var serializer = session.DocumentStore.Options.Serializer();
        var table = Table(session);
        (string, object)[] parameters = [("fund", fundId ?? Guid.Empty), ("all_funds", fundId is null), ("status", status?.ToString() ?? ""), ("any_status", status is null)];
        const string fund = "(@all_funds or fund_id = @fund)";
        const string wanted = "(@any_status or status = @status)";
        var counts = await ReportSql.ReadAsync(session,
            $"select count(*) filter (where {wanted}), count(*) filter (where issued is null) from {table} where {fund}",
            r => (Total: r.GetInt64(0), Unfilled: r.GetInt64(1)), ct, parameters);
        var (total, unfilled) = counts[0];
        if (unfilled > 0) return await FromFundDocumentsAsync(session, fundId, status, page, pageSize, ct);
        var items = await ReportSql.ReadAsync(session,
            $"""
             select {Columns} from {table} where {fund} and {wanted}
             order by reference collate "C", payout_id offset @skip limit @take
             """,
            r => Read(r, serializer)!, ct, [.. parameters, ("skip", (long)(page - 1) * pageSize), ("take", pageSize)]);
        return new PagedList<PayoutView>(items, page, pageSize, total);
    }

    /// <summary>
    /// The payouts with these ids, as the fund's fold makes them, or null when one of them has no row or a row without the payout
    /// (the caller then reads the fund's document).
    /// </summary>
    public static async Task<IReadOnlyDictionary<Guid, Payout>?> ManyAsync(IQuerySession session, IReadOnlyCollection<Guid> payoutIds, CancellationToken ct)
    {
        if (payoutIds.Count == 0) return new Dictionary<Guid, Payout>();
        var serializer = session.DocumentStore.Options.Serializer();
        var rows = await ReportSql.ReadAsync(session, $"select {Columns} from {Table(session)} where payout_id = any(@payouts)",
            r => ReadPayout(r, serializer), ct, ("payouts", payoutIds.ToArray()));
        if (rows.Count != payoutIds.Count || rows.Any(p => p is null)) return null;
        return rows.ToDictionary(p => p!.Value.Payout.Id, p => p!.Value.Payout);
    }

    private static string Table(IQuerySession session) => $"{session.DocumentStore.Options.DatabaseSchemaName}.{FundReportProjection.PayoutsTable}";

    /// <summary>The view of a row's payout, or null for a row without it.</summary>
    private static PayoutView? Read(NpgsqlDataReader r, ISerializer serializer) =>
        ReadPayout(r, serializer) is { } p ? PayoutView.From(p.FundId, p.Payout) : null;

    /// <summary>The payout of a row (its issue, then what happened to it since), or null for a row without them.</summary>
    private static (Guid FundId, Payout Payout)? ReadPayout(NpgsqlDataReader r, ISerializer serializer)
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

    /// <summary>The list as it was read before the rows held the payouts: from each fund's document.</summary>
    private static async Task<PagedList<PayoutView>> FromFundDocumentsAsync(
        IQuerySession session, Guid? fundId, PayoutStatus? status, int page, int pageSize, CancellationToken ct)
    {
        IReadOnlyList<Fund> funds = fundId is { } id
            ? (await session.LoadAsync<Fund>(id, ct) is { } one ? [one] : [])
            : await session.Query<Fund>().ToListAsync(ct);
        var payouts = funds.SelectMany(f => f.Payouts.Values.Where(p => status is null || p.Status == status).Select(p => PayoutView.From(f, p)))
            .OrderBy(p => p.Reference, StringComparer.Ordinal).ThenBy(p => p.Id).ToList();
        return new PagedList<PayoutView>(payouts.Skip((page - 1) * pageSize).Take(pageSize).ToArray(), page, pageSize, payouts.Count);
    }
}
