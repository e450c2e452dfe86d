using Marten;
using Marten.Events.Projections;

namespace CompensationLedger.Funds;

/// <summary>
/// Which fund covers a fraud case, by the case's id: what filing, approval and the buyer status lookup need to know about
/// a case's fund, without loading the <see cref="Fund"/> document (it holds every entitlement and payout of the fund).
/// </summary>
/// <remarks>
/// Inserted (never upserted) by <see cref="CaseCoverageProjection"/> in the transaction of <see cref="FundCoversCase"/>, so the
/// case id as document id is the "one fund per case" rule's guard: of two funds covering the same case at the same moment,
/// the second commit fails on the key (409 <c>case-covered-by-another-fund</c>, <see cref="Infrastructure.ErrorHandling"/>).
/// </remarks>
public sealed record CaseCoverage(Guid Id, Guid FundId);

/// <summary>Kept inline: the coverage is written in the same transaction as the event that declares it.</summary>
public sealed partial class CaseCoverageProjection : EventProjection
{
    /// <summary>A rebuild starts from an empty index, so nothing stale survives it.</summary>
    public CaseCoverageProjection() => Options.DeleteViewTypeOnTeardown<CaseCoverage>();

    public static void Project(FundCoversCase e, IDocumentOperations ops) => ops.Insert(new CaseCoverage(e.CaseId, e.FundId));
}

/// <summary>
/// A fund's terms as a claim is filed under them (<see cref="Claims.ClaimPolicies.For(FundTerms?, Claims.ClaimPolicySettings, NodaTime.Instant)"/>):
/// name, currency, eligible platforms and policy versions. A small snapshot of the fund's stream, kept inline beside the
/// <see cref="Fund"/> snapshot, read with the <see cref="CaseCoverage"/> that points to it (one round trip, Marten's Include).
/// </summary>
public sealed record FundTerms(Guid Id, string Name, string Currency, IReadOnlyList<string> EligiblePlatforms, IReadOnlyList<PolicyVersion> Policies)
{
    public static FundTerms Create(FundEstablished e) => new(e.FundId, e.Name, e.Currency, e.EligiblePlatforms, [e.Policy]);

    public FundTerms Apply(PolicyVersionAdded e) => this with { Policies = [.. Policies, e.Policy] };

    public static FundTerms Of(Fund fund) => new(fund.Id, fund.Name, fund.Currency, fund.EligiblePlatforms, fund.Policies);
}

public static class CaseCoverages
{
    /// <summary>The id of the fund that covers a case, if any.</summary>
    public static async Task<Guid?> FundIdOf(IQuerySession session, Guid caseId, CancellationToken ct) =>
        (await session.LoadAsync<CaseCoverage>(caseId, ct))?.FundId;

    /// <summary>The terms of the fund that covers a case, if any, in one round trip.</summary>
    public static async Task<FundTerms?> TermsOf(IQuerySession session, Guid caseId, CancellationToken ct)
    {
        var batch = session.CreateBatchQuery();
        var terms = TermsOf(batch, session.DocumentStore, caseId);
        await batch.Execute(ct);
        return await terms;
    }

    /// <summary>As <see cref="TermsOf(IQuerySession, Guid, CancellationToken)"/>, as part of a batched read.</summary>
    /// <remarks>
    /// One join in SQL, not Marten's <c>Include</c>: in a batch, <c>Include</c> selects into a temporary table and drops it,
    /// which on every filing wrote and committed catalog rows (two extra WAL flushes, a heavier connection reset) and cost
    /// ~2.2 ms of PostgreSQL time; that was most of filing's 2x slowdown since the first benchmark run (issue #7, PROFILING.md).
    /// </remarks>
    public static async Task<FundTerms?> TermsOf(Marten.Services.BatchQuerying.IBatchedQuery batch, IDocumentStore store, Guid caseId) =>
        (await batch.Query<FundTerms>(TermsOfCaseSql(store), caseId)).FirstOrDefault();

    /// <summary>The covering fund's <see cref="FundTerms"/> as one row (parameter: the case id), none when no fund covers the case.</summary>
    public static string TermsOfCaseSql(IDocumentStore store) =>
        $"select t.data from {TableOf<FundTerms>(store)} as t join {TableOf<CaseCoverage>(store)} as c on t.id = (c.data ->> 'fundId')::uuid where c.id = ?";

    private static string TableOf<T>(IDocumentStore store) => store.Options.FindOrResolveDocumentType(typeof(T)).TableName.QualifiedName;
}
