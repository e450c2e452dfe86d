using CompensationLedger.Infrastructure;

namespace CompensationLedger.Specs.Infrastructure;

/// <summary>The service auto-prepares statements unless the configured connection string decides it (issue #7).</summary>
public sealed class AutoPrepareSpecs
{
    [Theory]
    [InlineData("Host=db;Database=ledger;Max Auto Prepare=0", true)]
    [InlineData("Host=db;Database=ledger;max auto prepare=20", true)]
    [InlineData("Host=db;Database=ledger;MaxAutoPrepare=20", true)]
    [InlineData("Host=db;Database=ledger", false)]
    [InlineData("Host=db;Database=ledger;Auto Prepare Min Usages=3", false)]
    public void a_connection_string_that_sets_max_auto_prepare_is_left_as_it_is(string connectionString, bool setsIt) =>
        LedgerSetup.SetsAutoPrepare(connectionString).ShouldBe(setsIt);
}
