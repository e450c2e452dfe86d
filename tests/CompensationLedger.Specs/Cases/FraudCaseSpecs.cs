using CompensationLedger.Cases;
using CompensationLedger.Infrastructure;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Specs.Cases;

/// <summary>Given a case's events, when an investigator flags accounts, then these events (or this refusal).</summary>
public sealed class FraudCaseSpecs
{
    private static readonly Instant Now = Instant.FromUtc(2011, 4, 11, 8, 0);
    private static readonly Guid CaseId = Guid.Parse("0195a2c0-0000-7000-8000-000000000042");

    private static readonly OpenFraudCase Opening = new(
        "Putian ring", ["Alibaba.com", "EC21.com"], new LocalDate(2009, 6, 1), new LocalDate(2011, 2, 28), Money.Of(6_600_000m, "USD"));

    private static FraudCase Given(params object[] events) =>
        events.Skip(1).Aggregate(FraudCase.Create((FraudCaseOpened)events[0]), (state, e) => e switch
        {
            SupplierAccountsFlagged s => state.Apply(s),
            BankAccountsFlagged b => state.Apply(b),
            _ => throw new ArgumentException($"Unexpected event {e.GetType().Name}"),
        });

    private static FraudCaseOpened Opened => OpenFraudCaseEndpoint.Decide(CaseId, Opening, "ivy", Now);

    [Fact]
    public void opening_a_case_records_the_investigator_and_the_time()
    {
        var opened = OpenFraudCaseEndpoint.Decide(CaseId, Opening with { Title = "  Putian ring ", Platforms = [" Alibaba.com"] }, "ivy", Now);

        opened.ShouldBeFact(new FraudCaseOpened(CaseId, "Putian ring", ["Alibaba.com"], new LocalDate(2009, 6, 1), new LocalDate(2011, 2, 28),
            Money.Of(6_600_000m, "USD"), "ivy", Now));
    }

    [Fact]
    public void a_case_needs_a_period_that_ends_after_it_starts_and_a_positive_estimate()
    {
        var problem = OpenFraudCaseEndpoint.Validate(Opening with { ActiveTo = new LocalDate(2009, 1, 1), EstimatedLoss = Money.Of(-1m, "USD") });

        var errors = problem.ShouldBeOfType<ValidationProblemDetails>().Errors;
        errors.Keys.ShouldBe(["activeTo", "estimatedLoss.amount"], ignoreOrder: true);
    }

    [Fact]
    public void a_case_lists_each_platform_once()
    {
        var problem = OpenFraudCaseEndpoint.Validate(Opening with { Platforms = ["Alibaba.com", "alibaba.com"] });
        problem.ShouldBeOfType<ValidationProblemDetails>().Errors.Keys.ShouldContain("platforms");
    }

    [Fact]
    public void a_valid_case_passes_validation() =>
        OpenFraudCaseEndpoint.Validate(Opening).ShouldBeSameAs(WolverineContinue.NoProblems);

    [Fact]
    public void flagging_supplier_accounts_uses_the_cases_spelling_of_the_platform_and_normalised_ids()
    {
        var decision = FlagSupplierAccountsEndpoint.Decide(Given(Opened),
            new FlagSupplierAccounts([new SupplierAccountToFlag("ALIBABA.COM", " CNXinda ", " Xinda Electronics ")]), "ivy", Now);

        decision.IsRefused.ShouldBeFalse();
        decision.Events.ShouldBeFacts(
            new SupplierAccountsFlagged(CaseId, [new FlaggedSupplierAccount("Alibaba.com", "cnxinda", "Xinda Electronics")], "ivy", Now));
    }

    [Fact]
    public void a_supplier_account_flagged_before_is_refused_and_nothing_is_flagged()
    {
        var given = Given(Opened, new SupplierAccountsFlagged(CaseId, [new FlaggedSupplierAccount("Alibaba.com", "cnxinda", "Xinda")], "ivy", Now));

        var decision = FlagSupplierAccountsEndpoint.Decide(given, new FlagSupplierAccounts(
            [new SupplierAccountToFlag("EC21.com", "fresh", "Fresh"), new SupplierAccountToFlag("Alibaba.com", "CNXINDA", "Again")]), "ivy", Now);

        decision.Events.ShouldBeEmpty();
        decision.Refusal!.Code.ShouldBe("already-flagged");
    }

    [Fact]
    public void the_same_account_id_on_another_platform_is_another_account()
    {
        var given = Given(Opened, new SupplierAccountsFlagged(CaseId, [new FlaggedSupplierAccount("Alibaba.com", "cnxinda", "Xinda")], "ivy", Now));

        var decision = FlagSupplierAccountsEndpoint.Decide(given, new FlagSupplierAccounts([new SupplierAccountToFlag("EC21.com", "cnxinda", "Xinda")]), "ivy", Now);

        decision.IsRefused.ShouldBeFalse();
    }

    [Fact]
    public void a_supplier_on_a_platform_outside_the_case_is_refused()
    {
        var decision = FlagSupplierAccountsEndpoint.Decide(Given(Opened), new FlagSupplierAccounts([new SupplierAccountToFlag("DHgate.com", "x", "X")]), "ivy", Now);

        decision.Refusal!.Code.ShouldBe("platform-not-in-case");
    }

    [Fact]
    public void the_same_supplier_twice_in_one_request_is_invalid_input()
    {
        var problem = FlagSupplierAccountsEndpoint.Validate(new FlagSupplierAccounts(
            [new SupplierAccountToFlag("Alibaba.com", "a1", "A"), new SupplierAccountToFlag("alibaba.com", " A1", "A again")]));

        problem.ShouldBeOfType<ValidationProblemDetails>().Errors.Keys.ShouldContain("accounts");
    }

    [Fact]
    public void bank_accounts_are_flagged_normalised_and_refused_when_flagged_before()
    {
        var first = FlagBankAccountsEndpoint.Decide(Given(Opened), new FlagBankAccounts([new BankAccountToFlag("6222 0212 0300 1234", " ICBC ", Country: "cn")]), "ivy", Now);
        first.Events.ShouldBeFacts(
            new BankAccountsFlagged(CaseId, [new FlaggedBankAccount("6222021203001234", "ICBC", null, "CN")], "ivy", Now));

        var again = FlagBankAccountsEndpoint.Decide(Given([Opened, .. first.Events]), new FlagBankAccounts([new BankAccountToFlag("6222-0212-0300-1234")]), "ivy", Now);
        again.Refusal!.Code.ShouldBe("already-flagged");
    }

    [Theory]
    [InlineData("12345", "accounts[0].accountNumber")]
    [InlineData("6222021203001234", null)]
    public void bank_account_numbers_need_six_to_thirty_four_characters(string number, string? invalidField)
    {
        var problem = FlagBankAccountsEndpoint.Validate(new FlagBankAccounts([new BankAccountToFlag(number)]));
        if (invalidField is null) problem.ShouldBeSameAs(WolverineContinue.NoProblems);
        else problem.ShouldBeOfType<ValidationProblemDetails>().Errors.Keys.ShouldContain(invalidField);
    }

    [Fact]
    public void a_bank_country_must_be_an_iso_code() =>
        FlagBankAccountsEndpoint.Validate(new FlagBankAccounts([new BankAccountToFlag("6222021203001234", Country: "China")]))
            .ShouldBeOfType<ValidationProblemDetails>().Errors.Keys.ShouldContain("accounts[0].country");
}
