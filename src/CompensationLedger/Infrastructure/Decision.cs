using Microsoft.AspNetCore.Mvc;

namespace CompensationLedger.Infrastructure;

/// <summary>A business rule said no: the code is stable, the detail is for people.</summary>
public sealed record Refusal(string Code, string Detail, int Status = StatusCodes.Status409Conflict, IReadOnlyDictionary<string, object?>? Facts = null)
{
    public ProblemDetails ToProblem() =>
        Problems.Create(Status, Code, Status == StatusCodes.Status409Conflict ? "The request conflicts with the current state." : "The request was refused.",
            Detail, Facts?.ToDictionary(f => f.Key, f => f.Value));
}

/// <summary>
/// The outcome of a pure decision (state + command + clock): the events to append, or a refusal.
/// </summary>
public sealed record Decision
{
    private Decision(IReadOnlyList<object> events, Refusal? refusal)
    {
        Events = events;
        Refusal = refusal;
    }

    public IReadOnlyList<object> Events { get; }

    public Refusal? Refusal { get; }

    public bool IsRefused => Refusal is not null;

    public static Decision Accept(params object[] events) => new(events, null);

    public static Decision Refuse(string code, string detail, IReadOnlyDictionary<string, object?>? facts = null) =>
        new([], new Refusal(code, detail, Facts: facts));

    public static implicit operator Decision(Refusal refusal) => new([], refusal);
}
