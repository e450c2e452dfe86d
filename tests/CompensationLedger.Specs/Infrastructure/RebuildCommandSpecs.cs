using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using CompensationLedger.Reports;

namespace CompensationLedger.Specs.Infrastructure;

/// <summary>
/// Marten's <c>projections rebuild [-p NAME]</c> is served by <see cref="LedgerRebuild"/>, so the paid-vs-lost tables are never
/// rebuilt in place under a running service; anything else goes to Marten's command as it is.
/// </summary>
public sealed class RebuildCommandSpecs
{
    [Fact]
    public void projections_rebuild_with_projection_names_only_is_the_ledger_s_rebuild()
    {
        LedgerRebuild.MartenRebuildNames(["projections", "rebuild"]).ShouldBe([]);
        LedgerRebuild.MartenRebuildNames(["projections", "rebuild", "-p", "ClaimTotals"]).ShouldBe(["ClaimTotals"]);
        LedgerRebuild.MartenRebuildNames(["projections", "rebuild", "--projection", "Fund", "-p", "ClaimTotals"]).ShouldBe(["Fund", "ClaimTotals"]);
    }

    [Fact]
    public void the_longest_rebuilds_start_first_and_the_rest_keep_their_order()
    {
        LedgerRebuild.InRebuildOrder(["FraudCase", "FundReports", "ClaimTotals", "Claim", "FundTerms", "Fund", "FraudCase"])
            .ShouldBe(["Fund", "Claim", "ClaimTotals", "FundReports", "FraudCase", "FundTerms"]);
        LedgerRebuild.InRebuildOrder(["FundTerms", "ClaimTotals"]).ShouldBe(["ClaimTotals", "FundTerms"]);
        LedgerRebuild.InRebuildOrder([]).ShouldBeEmpty();
    }

    [Theory]
    [InlineData("projections", "list")]
    [InlineData("projections", "rebuild", "-p")]
    [InlineData("projections", "rebuild", "--interactive")]
    [InlineData("db-apply")]
    public void other_commands_are_marten_s(params string[] args) => LedgerRebuild.MartenRebuildNames(args).ShouldBeNull();

    [Fact]
    public void every_event_the_totals_projection_applies_is_read_by_its_rebuild()
    {
        // The rebuild reads the event types the projection has a Project method for: each must name the claims it counts for.
        ClaimTotalsProjection.AppliedEventTypes.ShouldContain(typeof(ClaimFiled));
        ClaimTotalsProjection.AppliedEventTypes.ShouldContain(typeof(CompensationLedger.Funds.PayoutReturned));
        ClaimTotalsProjection.AppliedEventTypes.Count.ShouldBe(13);
        ClaimTotalsProjection.AppliedEventTypes.ShouldAllBe(t => typeof(IClaimEvent).IsAssignableFrom(t) || t == typeof(CompensationLedger.Funds.PayoutSettled) || t == typeof(CompensationLedger.Funds.PayoutReturned));
    }
}
