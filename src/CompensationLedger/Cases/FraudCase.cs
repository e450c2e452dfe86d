using NodaTime;

namespace CompensationLedger.Cases;

/// <summary>An investigator opened a fraud case: the ring, the platforms it used, when it was active, and what it is thought to have taken.</summary>
public sealed record FraudCaseOpened(
    Guid CaseId,
    string Title,
    IReadOnlyList<string> Platforms,
    LocalDate ActiveFrom,
    LocalDate ActiveTo,
    Money EstimatedLoss,
    string OpenedBy,
    Instant OpenedAt);

/// <summary>Investigators established that these supplier accounts belonged to the ring.</summary>
public sealed record SupplierAccountsFlagged(
    Guid CaseId,
    IReadOnlyList<FlaggedSupplierAccount> Accounts,
    string FlaggedBy,
    Instant FlaggedAt);

/// <summary>Investigators established that the ring received buyers' money on these bank accounts or cards.</summary>
public sealed record BankAccountsFlagged(
    Guid CaseId,
    IReadOnlyList<FlaggedBankAccount> Accounts,
    string FlaggedBy,
    Instant FlaggedAt);

/// <param name="Platform">The platform as the case spells it.</param>
/// <param name="AccountId">Normalised (<see cref="AccountNumbers.NormaliseSupplierAccount"/>).</param>
public sealed record FlaggedSupplierAccount(string Platform, string AccountId, string DisplayName);

/// <param name="AccountNumber">Normalised (<see cref="AccountNumbers.NormaliseBankAccount"/>).</param>
public sealed record FlaggedBankAccount(string AccountNumber, string? BankName, string? HolderName, string? Country);

/// <summary>
/// A fraud case as its events made it: the write model for decisions and, kept inline by Marten,
/// the read model behind <c>GET /api/cases/{caseId}</c>.
/// </summary>
public sealed record FraudCase(
    Guid Id,
    int Version,
    string Title,
    IReadOnlyList<string> Platforms,
    LocalDate ActiveFrom,
    LocalDate ActiveTo,
    Money EstimatedLoss,
    string OpenedBy,
    Instant OpenedAt,
    IReadOnlyList<FlaggedSupplierAccount> SupplierAccounts,
    IReadOnlyList<FlaggedBankAccount> BankAccounts)
{
    public static FraudCase Create(FraudCaseOpened e) =>
        new(e.CaseId, 1, e.Title, e.Platforms, e.ActiveFrom, e.ActiveTo, e.EstimatedLoss, e.OpenedBy, e.OpenedAt, [], []);

    public FraudCase Apply(SupplierAccountsFlagged e) =>
        this with { SupplierAccounts = [.. SupplierAccounts, .. e.Accounts] };

    public FraudCase Apply(BankAccountsFlagged e) =>
        this with { BankAccounts = [.. BankAccounts, .. e.Accounts] };

    /// <summary>The case's own spelling of a platform, matched without regard to case; null when the case does not cover it.</summary>
    public string? CoveredPlatform(string platform) =>
        Platforms.FirstOrDefault(p => string.Equals(p, platform.Trim(), StringComparison.OrdinalIgnoreCase));

    public bool IsSupplierFlagged(string platform, string normalisedAccountId) =>
        SupplierAccounts.Any(a => a.AccountId == normalisedAccountId && string.Equals(a.Platform, platform, StringComparison.OrdinalIgnoreCase));

    public bool IsBankAccountFlagged(string normalisedAccountNumber) =>
        BankAccounts.Any(a => a.AccountNumber == normalisedAccountNumber);
}
