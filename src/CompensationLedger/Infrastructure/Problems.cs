using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// RFC 9457 problem details with a stable <c>type</c> and <c>code</c> per rule, so clients can
/// branch on the code and people can read the detail.
/// </summary>
public static class Problems
{
    public const string TypeBase = "https://compensation-ledger.dev/problems/";

    public static ProblemDetails Create(int status, string code, string title, string detail, IDictionary<string, object?>? extensions = null)
    {
        var problem = new ProblemDetails
        {
            Status = status,
            Type = TypeBase + code,
            Title = title,
            Detail = detail,
        };
        problem.Extensions["code"] = code;
        if (extensions is not null)
        {
            foreach (var (key, value) in extensions) problem.Extensions[key] = value;
        }
        return problem;
    }

    public static ValidationProblemDetails Invalid(IDictionary<string, string[]> errors)
    {
        var fields = string.Join(", ", errors.Keys);
        var problem = new ValidationProblemDetails(errors)
        {
            Status = StatusCodes.Status400BadRequest,
            Type = TypeBase + "validation",
            Title = "The request is invalid.",
            Detail = $"Check these fields: {fields}.",
        };
        problem.Extensions["code"] = "validation";
        return problem;
    }

    public static ValidationProblemDetails Invalid(string field, string message) =>
        Invalid(new Dictionary<string, string[]> { [field] = [message] });

    public static ProblemDetails NotFound(string what, object id) =>
        Create(StatusCodes.Status404NotFound, "not-found", $"{what} not found.", $"There is no {what.ToLowerInvariant()} with id {id}.");

    public static ProblemDetails Conflict(string code, string detail, IDictionary<string, object?>? extensions = null) =>
        Create(StatusCodes.Status409Conflict, code, "The request conflicts with the current state.", detail, extensions);

    public static IResult ToResult(this ProblemDetails problem) =>
        TypedResults.Problem(problem);

    /// <summary>Wolverine's "carry on" value for Validate methods.</summary>
    public static ProblemDetails None => WolverineContinue.NoProblems;
}
