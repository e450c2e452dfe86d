using CompensationLedger.Infrastructure;
using Wolverine.Marten;

namespace CompensationLedger.Funds;

public static class FundResponses
{
    /// <summary>Turns a fund decision into the HTTP answer (built from the fund as the events leave it) and the events to append.</summary>
    public static (IResult, Events) Respond(Fund fund, Decision decision, Func<Fund, IResult> answer)
    {
        if (decision.Refusal is { } refusal) return (refusal.ToProblem().ToResult(), []);
        var updated = Fund.Fold(fund, decision.Events)!;
        var events = new Events();
        events.AddRange(decision.Events);
        return (answer(updated), events);
    }

    /// <summary>As <see cref="Respond"/>, the answer read with the database (the fund's snapshot keeps no payouts: views of them read their rows).</summary>
    public static async Task<(IResult, Events)> RespondAsync(Fund fund, Decision decision, Func<Fund, Task<IResult>> answer)
    {
        if (decision.Refusal is { } refusal) return (refusal.ToProblem().ToResult(), []);
        var updated = Fund.Fold(fund, decision.Events)!;
        var events = new Events();
        events.AddRange(decision.Events);
        return (await answer(updated), events);
    }
}
