using CompensationLedger.Cases;

namespace CompensationLedger.Specs.Cases;

public sealed class AccountNumberSpecs
{
    [Theory]
    [InlineData("6222 0212-0300 1234", "6222021203001234")]
    [InlineData("de89 3704 0044 0532 0130 00", "DE89370400440532013000")]
    [InlineData(" 6228480012345678 ", "6228480012345678")]
    public void bank_accounts_are_compared_without_spaces_dashes_or_case(string raw, string normalised) =>
        AccountNumbers.NormaliseBankAccount(raw).ShouldBe(normalised);

    [Fact]
    public void supplier_accounts_are_compared_trimmed_and_case_insensitively() =>
        AccountNumbers.NormaliseSupplierAccount("  CN-Xinda01 ").ShouldBe("cn-xinda01");

    [Fact]
    public void masking_shows_only_the_last_four_characters()
    {
        AccountNumbers.Mask("6222021203001234").ShouldBe("••••1234");
        AccountNumbers.Mask("1234").ShouldBe("••••");
    }
}
