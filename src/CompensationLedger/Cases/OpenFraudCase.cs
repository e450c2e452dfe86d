using System.Security.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;
using Wolverine.Marten;

namespace CompensationLedger.Cases;

/// <summary>Open a fraud case: what investigators know when the ring is broken up.</summary>
public sealed record OpenFraudCase(
    string Title,
    IReadOnlyList<string> Platforms,
    LocalDate ActiveFrom,
    LocalDate ActiveTo,
    Money EstimatedLoss);

public static class OpenFraudCaseEndpoint
{
    public const int MaxPlatforms = 50;

    public static ProblemDetails Validate(OpenFraudCase command)
    {
        var check = new Validation()
            .Text("title", command.Title, Validation.NameLength)
            .List("platforms", command.Platforms, MaxPlatforms)
            .Period("activeFrom", command.ActiveFrom, "activeTo", command.ActiveTo)
            .Money("estimatedLoss", command.EstimatedLoss);
        for (var i = 0; i < (command.Platforms?.Count ?? 0); i++)
            check.Text($"platforms[{i}]", command.Platforms![i], Validation.IdentifierLength);
        var duplicates = (command.Platforms ?? []).Where(p => !string.IsNullOrWhiteSpace(p))
            .GroupBy(p => p.Trim(), StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (duplicates.Count > 0) check.Add("platforms", $"lists {string.Join(", ", duplicates)} more than once.");
        return check.ToProblem();
    }

    /// <summary>The decision: a case is opened as stated; the platforms keep the investigator's spelling.</summary>
    public static FraudCaseOpened Decide(Guid caseId, OpenFraudCase command, string investigator, Instant now) =>
        new(caseId, command.Title.Trim(), command.Platforms.Select(p => p.Trim()).ToArray(),
            command.ActiveFrom, command.ActiveTo, command.EstimatedLoss, investigator, now);

    [WolverinePost("/api/cases", Name = "OpenFraudCase")]
    [Authorize(Roles = Roles.Investigator)]
    [Tags("Fraud cases")]
    [EndpointSummary("Open a fraud case")]
    public static (Created<FraudCaseView>, IStartStream) Post(OpenFraudCase command, ClaimsPrincipal user, IClock clock)
    {
        var caseId = Guid.CreateVersion7();
        var opened = Decide(caseId, command, user.StaffName(), clock.GetCurrentInstant());
        var view = FraudCaseView.From(FraudCase.Create(opened), user);
        return (TypedResults.Created($"/api/cases/{caseId}", view), MartenOps.StartStream<FraudCase>(caseId, opened));
    }
}
