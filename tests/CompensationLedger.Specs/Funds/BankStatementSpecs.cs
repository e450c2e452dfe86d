using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using NodaTime;

namespace CompensationLedger.Specs.Funds;

/// <summary>Given released payouts, when a bank statement is imported, then payouts settle or return by reference and amount.</summary>
public sealed class BankStatementSpecs
{
    private static readonly Instant Now = Instant.FromUtc(2011, 6, 10, 9, 0);
    private static readonly Guid FundId = Guid.Parse("0195a2c0-0000-7000-8000-00000000f00d");
    private static readonly Guid General = Guid.Parse("0195a2c0-0000-7000-8000-0000000000a1");
    private static readonly LocalDate Day = new(2011, 6, 9);

    private static Money Usd(decimal amount) => Money.Of(amount, "USD");

    private static Fund Released()
    {
        var policy = new PolicyVersion(1, new LocalDate(2011, 1, 1), 0.7m, Usd(1_000m), null, Usd(0m), 90, 30, 60, false);
        var fund = Fund.Replay([
            new FundEstablished(FundId, "Fund", "Sponsor", "USD", ["Alibaba.com"], policy, "fiona", Now),
            new PoolOpened(FundId, General, PoolKind.General, "General", null, "fiona", Now),
            new PoolDeposited(FundId, General, Usd(5_000m), "DEP-1", Day, "fiona", Now),
            new EntitlementRecorded(FundId, Guid.NewGuid(), "CL-1", Guid.Empty, "Alibaba.com", "x", "GB", Usd(980m), "claims", Now),
            new EntitlementRecorded(FundId, Guid.NewGuid(), "CL-2", Guid.Empty, "Alibaba.com", "x", "GB", Usd(500m), "claims", Now),
            new EntitlementRecorded(FundId, Guid.NewGuid(), "CL-3", Guid.Empty, "Alibaba.com", "x", "GB", Usd(300m), "claims", Now),
        ]);
        var roundId = Guid.NewGuid();
        foreach (var e in PrepareRoundEndpoint.Decide(fund, roundId, "fiona", Now).Events) fund = Fund.Fold(fund, e)!;
        foreach (var e in ReleaseRoundEndpoint.Decide(fund, roundId, Guid.NewGuid, "frank", Now).Events) fund = Fund.Fold(fund, e)!;
        return fund;
    }

    private static Payout Payout(Fund fund, string claim) => fund.Payouts.Values.Single(p => p.ClaimReferences.SequenceEqual([claim]));

    [Fact]
    public void debits_settle_credits_return_and_what_does_not_match_is_reported()
    {
        var fund = Released();
        var (p1, p2, p3) = (Payout(fund, "CL-1"), Payout(fund, "CL-2"), Payout(fund, "CL-3"));
        var csv = $"""
            date,reference,amount,currency,direction
            2011-06-09,{p1.Reference},980.00,USD,debit
            2011-06-09,{p2.Reference},500.00,USD,credit
            2011-06-09,{p3.Reference},299.99,USD,debit
            2011-06-09,DEP-1,5000,USD,credit
            2011-06-09,MYSTERY-1,12.00,USD,credit
            """;
        var check = new Validation();
        var lines = ImportBankStatementEndpoint.Parse(csv, check);
        check.IsValid.ShouldBeTrue();

        var decision = ImportBankStatementEndpoint.Decide(fund, lines, "fiona", Now);

        var imported = decision.Events[0].ShouldBeOfType<BankStatementImported>();
        imported.Lines.Select(l => l.Match).ShouldBe([StatementMatch.PayoutSettled, StatementMatch.PayoutReturned, StatementMatch.AmountMismatch,
            StatementMatch.Deposit, StatementMatch.Unmatched]);
        decision.Events.Skip(1).ShouldBeFacts(
            new PayoutSettled(FundId, p1.Id, null, p1.Lines, p1.Reference, "fiona", Now, p1.PerClaim),
            new PayoutReturned(FundId, p2.Id, null, p2.Lines, "Returned by the bank (statement line 3, 2011-06-09).", "fiona", Now, p2.PerClaim));

        var after = decision.Events.Aggregate(fund, (s, e) => Fund.Fold(s, e)!);
        after.Pools[General].Settled.ShouldBe(980m);
        after.Pools[General].InTransit.ShouldBe(300m);
        ImportBankStatementEndpoint.Decide(after, ImportBankStatementEndpoint.Parse(csv.Replace("\n", "\r\n", StringComparison.Ordinal), new Validation()), "fiona", Now)
            .Events.ShouldBeEmpty();
    }

    [Fact]
    public void a_payout_already_settled_by_an_earlier_statement_is_not_settled_again()
    {
        var fund = Released();
        var p1 = Payout(fund, "CL-1");
        var first = ImportBankStatementEndpoint.Decide(fund, [new StatementLine(2, Day, p1.Reference, Usd(980m), StatementDirection.Debit)], "fiona", Now);
        fund = first.Events.Aggregate(fund, (s, e) => Fund.Fold(s, e)!);

        var second = ImportBankStatementEndpoint.Decide(fund,
            [new StatementLine(2, Day, p1.Reference, Usd(980m), StatementDirection.Debit), new StatementLine(3, Day, "OTHER", Usd(1m), StatementDirection.Debit)], "fiona", Now);

        second.Events.ShouldHaveSingleItem().ShouldBeOfType<BankStatementImported>().Lines[0].Match.ShouldBe(StatementMatch.AlreadyRecorded);
    }

    [Fact]
    public void a_statement_names_its_bad_cells()
    {
        var check = new Validation();
        ImportBankStatementEndpoint.Parse("date,reference,amount,currency,direction\n2011-13-01,R,1.001,USD,sideways\n", check);

        var errors = check.ToProblem().ShouldBeOfType<Microsoft.AspNetCore.Mvc.ValidationProblemDetails>().Errors.Keys;
        errors.ShouldBe(["csv.lines[2].date", "csv.lines[2].amount", "csv.lines[2].direction"], ignoreOrder: true);
    }
}
