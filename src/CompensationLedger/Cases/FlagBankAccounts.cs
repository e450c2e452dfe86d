using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Cases;

/// <summary>Flag one or many beneficiary bank accounts or cards the ring was paid on. All or nothing.</summary>
public sealed record FlagBankAccounts(IReadOnlyList<BankAccountToFlag> Accounts);

/// <param name="Country">ISO 3166-1 alpha-2 code of the bank's country, when known.</param>
public sealed record BankAccountToFlag(string AccountNumber, string? BankName = null, string? HolderName = null, string? Country = null);

public static class FlagBankAccountsEndpoint
{
    public const int MaxPerRequest = 1000;

    public static ProblemDetails Validate(FlagBankAccounts command)
    {
        var check = new Validation().List("accounts", command.Accounts, MaxPerRequest);
        for (var i = 0; i < (command.Accounts?.Count ?? 0); i++)
        {
            var account = command.Accounts![i];
            if (account is null)
            {
                check.Add($"accounts[{i}]", "is required.");
                continue;
            }
            check.Text($"accounts[{i}].accountNumber", account.AccountNumber, 64)
                .Text($"accounts[{i}].bankName", account.BankName, Validation.NameLength, required: false)
                .Text($"accounts[{i}].holderName", account.HolderName, Validation.NameLength, required: false);
            if (!string.IsNullOrWhiteSpace(account.AccountNumber) && !AccountNumbers.IsPlausibleBankAccount(AccountNumbers.NormaliseBankAccount(account.AccountNumber)))
                check.Add($"accounts[{i}].accountNumber", "must have 6 to 34 letters or digits (spaces and dashes are ignored).");
            if (account.Country is not null && !Countries.IsIsoAlpha2(account.Country))
                check.Add($"accounts[{i}].country", "must be an ISO 3166-1 alpha-2 code such as CN or US.");
        }
        if (check.IsValid)
        {
            foreach (var repeated in command.Accounts!.GroupBy(a => AccountNumbers.NormaliseBankAccount(a.AccountNumber)).Where(g => g.Count() > 1))
                check.Add("accounts", $"lists account {AccountNumbers.Mask(repeated.Key)} more than once.");
        }
        return check.ToProblem();
    }

    public static Decision Decide(FraudCase fraudCase, FlagBankAccounts command, string investigator, Instant now)
    {
        var accounts = command.Accounts
            .Select(a => new FlaggedBankAccount(
                AccountNumbers.NormaliseBankAccount(a.AccountNumber),
                a.BankName?.Trim() is { Length: > 0 } bank ? bank : null,
                a.HolderName?.Trim() is { Length: > 0 } holder ? holder : null,
                a.Country?.ToUpperInvariant()))
            .ToList();
        var alreadyFlagged = accounts.Where(a => fraudCase.IsBankAccountFlagged(a.AccountNumber)).Select(a => a.AccountNumber).ToArray();
        if (alreadyFlagged.Length > 0)
            return Decision.Refuse("already-flagged",
                $"Already flagged on this case: {string.Join(", ", alreadyFlagged)}. Nothing was flagged; send the request without them.",
                new Dictionary<string, object?> { ["accounts"] = alreadyFlagged });

        return Decision.Accept(new BankAccountsFlagged(fraudCase.Id, accounts, investigator, now));
    }

    [WolverinePost("/api/cases/{caseId}/bank-accounts", Name = "FlagBankAccounts")]
    [Authorize(Roles = Roles.Investigator)]
    [Tags("Fraud cases")]
    [EndpointSummary("Flag beneficiary bank accounts or cards the ring was paid on (one or many)")]
    public static (IResult, Events) Post(
        FlagBankAccounts command,
        [WriteAggregate("caseId", OnMissing = OnMissing.ProblemDetailsWith404)] FraudCase fraudCase,
        ClaimsPrincipal user,
        IClock clock) =>
        CaseResponses.Respond(fraudCase, Decide(fraudCase, command, user.StaffName(), clock.GetCurrentInstant()), user);
}
