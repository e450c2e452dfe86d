using CompensationLedger.Claims;

namespace CompensationLedger.Specs.Claims;

public sealed class ClaimReferenceSpecs
{
    [Fact]
    public void a_reference_has_the_year_a_six_digit_number_and_a_check_character()
    {
        var reference = ClaimReferences.Format(2011, 123);

        reference.ShouldStartWith("CL-2011-000123-");
        reference.Length.ShouldBe("CL-2011-000123-X".Length);
        ClaimReferences.IsValid(reference).ShouldBeTrue();
        ClaimReferences.Normalise(" cl-2011-000123-" + reference[^1..].ToLowerInvariant()).ShouldBe(reference);
    }

    [Fact]
    public void every_single_wrong_digit_and_every_swap_of_adjacent_digits_is_caught()
    {
        for (var number = 1; number < 2000; number += 37)
        {
            var reference = ClaimReferences.Format(2011, number);
            var digits = reference[3..7] + reference[8..14];
            for (var i = 0; i < digits.Length; i++)
            {
                for (var d = '0'; d <= '9'; d++)
                {
                    if (d == digits[i]) continue;
                    var typo = digits[..i] + d + digits[(i + 1)..];
                    ClaimReferences.IsValid($"CL-{typo[..4]}-{typo[4..]}-{reference[^1]}").ShouldBeFalse(typo);
                }
                if (i + 1 < digits.Length && digits[i] != digits[i + 1])
                {
                    var swapped = digits[..i] + digits[i + 1] + digits[i] + digits[(i + 2)..];
                    ClaimReferences.IsValid($"CL-{swapped[..4]}-{swapped[4..]}-{reference[^1]}").ShouldBeFalse(swapped);
                }
            }
        }
    }

    [Fact]
    public void access_codes_are_long_random_and_stored_only_as_a_hash_that_ignores_how_they_are_typed()
    {
        var code = AccessCodes.New();
        code.Replace("-", "", StringComparison.Ordinal).Length.ShouldBe(24);
        AccessCodes.New().ShouldNotBe(code);
        var hash = AccessCodes.Hash(code);
        hash.Length.ShouldBe(64);
        hash.ShouldNotContain(code.Replace("-", "", StringComparison.Ordinal), Case.Insensitive);
        AccessCodes.Hash(code.ToLowerInvariant().Replace("-", " ", StringComparison.Ordinal)).ShouldBe(hash);
    }

    [Fact]
    public void duplicate_fingerprints_ignore_spacing_and_case_but_not_the_amount_or_date()
    {
        var a = ClaimFingerprints.For("TT 2011-0001", "Jane Buyer", "us", "CNXinda", Money.Of(1400m, "USD"), new NodaTime.LocalDate(2011, 1, 25));
        var b = ClaimFingerprints.For("tt20110001", "JANE  BUYER", "US", " cnxinda ", Money.Of(1400.00m, "USD"), new NodaTime.LocalDate(2011, 1, 25));
        var c = ClaimFingerprints.For("other", "Jane Buyer", "US", "cnxinda", Money.Of(1400.01m, "USD"), new NodaTime.LocalDate(2011, 1, 25));

        b.ShouldBe(a);
        c[0].Id.ShouldNotBe(a[0].Id);
        c[1].Id.ShouldNotBe(a[1].Id);
        a[1].Id.ShouldNotContain("jane", Case.Insensitive);
    }
}
