using CompensationLedger.Funds;
using CompensationLedger.IntegrationTests.Claims;
using CompensationLedger.IntegrationTests.Infrastructure;
using Marten;
using Marten.Services;
using Npgsql;

namespace CompensationLedger.IntegrationTests.Funds;

/// <summary>
/// Filing and approval read the covering fund's terms on every request: one statement, and no temporary table (Marten's
/// <c>Include</c> in a batch creates and drops one, which made every filing write and flush catalog rows: issue #7's 2x).
/// </summary>
public sealed class CaseCoverageReadTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task a_case_s_fund_terms_are_read_in_one_statement_that_creates_no_temporary_table()
    {
        var coveredCase = await App.OpenFlaggedCase();
        var uncoveredCase = await App.OpenFlaggedCase();
        var fundId = await App.EstablishFund();
        await (await App.Finance().PostJson($"/api/funds/{fundId}/cases", new { caseId = coveredCase })).ShouldBe(200);

        await using var session = App.Store.QuerySession();
        var statements = new StatementRecorder();
        session.Logger = statements;

        var terms = await CaseCoverages.TermsOf(session, coveredCase, CancellationToken.None);
        terms.ShouldNotBeNull().Id.ShouldBe(fundId);
        terms.Policies.ShouldNotBeEmpty();
        (await CaseCoverages.TermsOf(session, uncoveredCase, CancellationToken.None)).ShouldBeNull();

        statements.Sql.Count.ShouldBe(2);
        statements.Sql.ShouldAllBe(sql => !sql.Contains("temp", StringComparison.OrdinalIgnoreCase) && !sql.Contains("drop", StringComparison.OrdinalIgnoreCase));
    }

    private sealed class StatementRecorder : IMartenSessionLogger
    {
        public List<string> Sql { get; } = [];

        public void LogSuccess(NpgsqlCommand command) => Sql.Add(command.CommandText);

        public void LogFailure(NpgsqlCommand command, Exception ex) => Sql.Add(command.CommandText);

        public void LogSuccess(NpgsqlBatch batch) => Sql.AddRange(batch.BatchCommands.Cast<NpgsqlBatchCommand>().Select(c => c.CommandText));

        public void LogFailure(NpgsqlBatch batch, Exception ex) => LogSuccess(batch);

        public void LogFailure(Exception ex, string message) { }

        public void RecordSavedChanges(IDocumentSession session, IChangeSet commit) { }

        public void OnBeforeExecute(NpgsqlCommand command) { }

        public void OnBeforeExecute(NpgsqlBatch batch) { }
    }
}
