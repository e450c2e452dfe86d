using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;
using Wolverine.Persistence;

namespace CompensationLedger.Cases;

/// <summary>Flag one or many supplier accounts as the ring's. All or nothing: one bad entry refuses the request.</summary>
public sealed record FlagSupplierAccounts(IReadOnlyList<SupplierAccountToFlag> Accounts);

public sealed record SupplierAccountToFlag(string Platform, string AccountId, string DisplayName);

public static class FlagSupplierAccountsEndpoint
{
    public const int MaxPerRequest = 1000;

    public static ProblemDetails Validate(FlagSupplierAccounts command)
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
            check.Text($"accounts[{i}].platform", account.Platform, Validation.IdentifierLength)
                .Text($"accounts[{i}].accountId", account.AccountId, Validation.IdentifierLength)
                .Text($"accounts[{i}].displayName", account.DisplayName, Validation.NameLength);
        }
        if (check.IsValid)
        {
            foreach (var repeated in command.Accounts!
                         .GroupBy(a => (Platform: a.Platform.Trim().ToUpperInvariant(), Id: AccountNumbers.NormaliseSupplierAccount(a.AccountId)))
                         .Where(g => g.Count() > 1))
                check.Add("accounts", $"lists {repeated.First().Platform} account '{repeated.Key.Id}' more than once.");
        }
        return check.ToProblem();
    }

    public static Decision Decide(FraudCase fraudCase, FlagSupplierAccounts command, string investigator, Instant now)
    {
        var accounts = new List<FlaggedSupplierAccount>();
        var notCovered = new List<string>();
        var alreadyFlagged = new List<string>();
        foreach (var requested in command.Accounts)
        {
            var platform = fraudCase.CoveredPlatform(requested.Platform);
            var accountId = AccountNumbers.NormaliseSupplierAccount(requested.AccountId);
            if (platform is null) notCovered.Add(requested.Platform.Trim());
            else if (fraudCase.IsSupplierFlagged(platform, accountId)) alreadyFlagged.Add($"{platform}/{accountId}");
            else accounts.Add(new FlaggedSupplierAccount(platform, accountId, requested.DisplayName.Trim()));
        }

        if (notCovered.Count > 0)
            return Decision.Refuse("platform-not-in-case",
                $"The case does not cover {string.Join(", ", notCovered.Distinct())}; it covers {string.Join(", ", fraudCase.Platforms)}.",
                new Dictionary<string, object?> { ["platforms"] = notCovered.Distinct().ToArray() });
        if (alreadyFlagged.Count > 0)
            return Decision.Refuse("already-flagged",
                $"Already flagged on this case: {string.Join(", ", alreadyFlagged)}. Nothing was flagged; send the request without them.",
                new Dictionary<string, object?> { ["accounts"] = alreadyFlagged.ToArray() });

        return Decision.Accept(new SupplierAccountsFlagged(fraudCase.Id, accounts, investigator, now));
    }

    [WolverinePost("/api/cases/{caseId}/supplier-accounts", Name = "FlagSupplierAccounts")]
    [Authorize(Roles = Roles.Investigator)]
    [Tags("Fraud cases")]
    [EndpointSummary("Flag supplier accounts the ring used (one or many)")]
    public static (IResult, Events) Post(
        FlagSupplierAccounts command,
        [WriteAggregate("caseId", OnMissing = OnMissing.ProblemDetailsWith404)] FraudCase fraudCase,
        ClaimsPrincipal user,
        IClock clock) =>
        CaseResponses.Respond(fraudCase, Decide(fraudCase, command, user.StaffName(), clock.GetCurrentInstant()), user);
}
