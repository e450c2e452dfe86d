namespace CompensationLedger.Cases;

/// <summary>
/// How account identifiers are compared and shown. Staff type them from police reports, bank
/// letters and screenshots, so the same account arrives as "6222 0212-0300 1234" and
/// "6222021203001234": matching must not depend on spacing, dashes or case.
/// </summary>
public static class AccountNumbers
{
    /// <summary>Bank account or card numbers (including IBANs): letters and digits only, upper case.</summary>
    public static string NormaliseBankAccount(string raw) =>
        new string(raw.Where(char.IsLetterOrDigit).Select(char.ToUpperInvariant).ToArray());

    /// <summary>Supplier account ids: trimmed, case-insensitive (platform logins ignore case).</summary>
    public static string NormaliseSupplierAccount(string raw) => raw.Trim().ToLowerInvariant();

    /// <summary>A bank account for anyone but investigators: only its last four characters.</summary>
    public static string Mask(string normalised) =>
        normalised.Length <= 4 ? new string('•', normalised.Length) : "••••" + normalised[^4..];

    public static bool IsPlausibleBankAccount(string normalised) => normalised.Length is >= 6 and <= 34;
}
