using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using CompensationLedger.Cases;
using CompensationLedger.Infrastructure;
using Marten;
using Marten.Events.Projections;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.ExchangeRates;

/// <summary>Finance recorded the rate of one currency against the fund's currency for one day: 1 <c>Currency</c> = <c>Rate</c> <c>FundCurrency</c>.</summary>
/// <param name="FundId">The fund whose rate it is (recorded on <c>/api/funds/{fundId}/exchange-rates</c>); null for a rate recorded for every fund (<c>/api/exchange-rates</c>, and every rate recorded before rates were kept per fund).</param>
public sealed record ExchangeRateRecorded(
    Guid PairId,
    string Currency,
    string FundCurrency,
    LocalDate Date,
    decimal Rate,
    string RecordedBy,
    Instant RecordedAt,
    Guid? FundId = null);

/// <summary>A recorded rate, kept inline by Marten and keyed by (fund,) pair and date so an approval finds the payment date's rate in one lookup.</summary>
public sealed record ExchangeRate(string Id, string Currency, string FundCurrency, LocalDate Date, decimal Rate, string RecordedBy, Instant RecordedAt, Guid? FundId = null)
{
    /// <summary>A fund's own rate is keyed under the fund; a rate for every fund keeps the key it always had.</summary>
    public static string IdFor(string currency, string fundCurrency, LocalDate date, Guid? fundId = null) =>
        (fundId is { } fund ? $"fund/{fund:N}/" : "") + $"{currency}/{fundCurrency}/{date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}";

    public static ExchangeRate From(ExchangeRateRecorded e) =>
        new(IdFor(e.Currency, e.FundCurrency, e.Date, e.FundId), e.Currency, e.FundCurrency, e.Date, e.Rate, e.RecordedBy, e.RecordedAt, e.FundId);

    /// <summary>
    /// The rate a loss of a claim owed by <paramref name="fundId"/> is converted at: the fund's own rate for the day, else the rate
    /// recorded for every fund. The fallback is what the domain needs: claims of cases no fund covers yet are approved with the
    /// shared rates, and so were the fund's own before rates were kept per fund (those were recorded without a fund). A fund's own
    /// rate always wins, and the entitlement records which one it used (<see cref="Claims.AppliedRate.FundId"/>).
    /// </summary>
    public static async Task<ExchangeRate?> For(IQuerySession session, string currency, string fundCurrency, LocalDate date, Guid? fundId, CancellationToken ct) =>
        (fundId is { } fund ? await session.LoadAsync<ExchangeRate>(IdFor(currency, fundCurrency, date, fund), ct) : null)
        ?? await session.LoadAsync<ExchangeRate>(IdFor(currency, fundCurrency, date), ct);
}

/// <summary>
/// Rates are facts finance records once: the document is inserted (not upserted), so a second rate for
/// the same pair and day, even one racing the first, fails on the primary key instead of silently replacing it.
/// </summary>
public sealed partial class ExchangeRateProjection : EventProjection
{
    /// <summary>A rebuild starts from no rates (inserts would otherwise collide with the rows being rebuilt).</summary>
    public ExchangeRateProjection() => Options.DeleteViewTypeOnTeardown<ExchangeRate>();

    public void Project(ExchangeRateRecorded e, IDocumentOperations operations) => operations.Insert(ExchangeRate.From(e));
}

/// <param name="Rate">Units of <paramref name="FundCurrency"/> for one unit of <paramref name="Currency"/> (e.g. EUR -> USD 1.4123).</param>
public sealed record RecordExchangeRate(LocalDate Date, string Currency, string FundCurrency, decimal Rate);

public static class RecordExchangeRateEndpoint
{
    public const int MaxRateDecimals = 10;

    public static ProblemDetails Validate(RecordExchangeRate command)
    {
        var check = new Validation();
        if (!Currencies.IsKnown(command.Currency)) check.Add("currency", "must be an ISO 4217 currency code such as EUR or JPY.");
        if (!Currencies.IsKnown(command.FundCurrency)) check.Add("fundCurrency", "must be an ISO 4217 currency code such as USD.");
        if (check.IsValid && command.Currency == command.FundCurrency) check.Add("currency", "must differ from fundCurrency.");
        if (command.Rate <= 0m) check.Add("rate", "must be greater than zero.");
        else if (command.Rate > 1_000_000m) check.Add("rate", "is implausibly large.");
        if (Money.Scale(command.Rate) > MaxRateDecimals) check.Add("rate", $"must have at most {MaxRateDecimals} decimal places.");
        return check.ToProblem();
    }

    /// <summary>One stream per currency pair (per fund for a fund's own rates), with a stable id derived from the pair.</summary>
    public static Guid PairId(string currency, string fundCurrency, Guid? fundId = null)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"exchange-rate:{(fundId is { } fund ? $"fund/{fund:N}/" : "")}{currency}/{fundCurrency}"));
        return new Guid(hash.AsSpan(0, 16));
    }

    public static Decision Decide(RecordExchangeRate command, ExchangeRate? existing, string recordedBy, Instant now, Guid? fundId = null)
    {
        if (existing is not null)
            return Decision.Refuse("rate-already-recorded",
                $"A {command.Currency}/{command.FundCurrency} rate for {command.Date:yyyy-MM-dd} is already recorded ({existing.Rate}); rates are not overwritten.",
                new Dictionary<string, object?> { ["rate"] = existing.Rate });
        if (command.Date > now.InUtc().Date)
            return Decision.Refuse("rate-in-future", "A rate can only be recorded for today or a past day.");
        return Decision.Accept(new ExchangeRateRecorded(PairId(command.Currency, command.FundCurrency, fundId), command.Currency, command.FundCurrency,
            command.Date, command.Rate, recordedBy, now, fundId));
    }

    [WolverinePost("/api/exchange-rates", Name = "RecordExchangeRate")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Exchange rates")]
    [ProducesResponseType<ExchangeRate>(StatusCodes.Status201Created)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [EndpointSummary("Record a currency's rate against a fund currency for a day, for every fund in that currency (finance); a fund's own rate for the day wins")]
    public static Task<IResult> Post(RecordExchangeRate command, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct) =>
        Record(command, session, user, clock, ct);

    /// <summary>Records a validated rate: the one way both routes (this one, for every fund, and the fund's own) write rates.</summary>
    public static async Task<IResult> Record(RecordExchangeRate command, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct, Guid? fundId = null)
    {
        var existing = await session.LoadAsync<ExchangeRate>(ExchangeRate.IdFor(command.Currency, command.FundCurrency, command.Date, fundId), ct);
        var decision = Decide(command, existing, user.StaffName(), clock.GetCurrentInstant(), fundId);
        if (decision.Refusal is { } refusal) return refusal.ToProblem().ToResult();
        var recorded = (ExchangeRateRecorded)decision.Events[0];
        session.Events.Append(recorded.PairId, recorded);
        var rate = ExchangeRate.From(recorded);
        return TypedResults.Created($"/api/exchange-rates?currency={rate.Currency}&fundCurrency={rate.FundCurrency}&date={rate.Date:yyyy-MM-dd}"
            + (fundId is { } fund ? $"&fundId={fund}" : ""), rate);
    }
}

public static class ListExchangeRatesEndpoint
{
    [WolverineGet("/api/exchange-rates", Name = "ListExchangeRates")]
    [Authorize(Roles = Roles.AnyStaff)]
    [Tags("Exchange rates")]
    [ProducesResponseType<ExchangeRate>(StatusCodes.Status201Created)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [EndpointSummary("Recorded exchange rates, filtered by currency, fund currency, date and fund (fundId: that fund's own rates; without it, every rate)")]
    public static async Task<Results<Ok<PagedList<ExchangeRate>>, ProblemHttpResult>> Get(
        IQuerySession session, CancellationToken ct, string? currency = null, string? fundCurrency = null, string? date = null, int page = 1, int pageSize = 100,
        Guid? fundId = null)
    {
        var check = new Validation();
        if (currency is not null && !Currencies.IsKnown(currency)) check.Add("currency", "must be an ISO 4217 currency code.");
        if (fundCurrency is not null && !Currencies.IsKnown(fundCurrency)) check.Add("fundCurrency", "must be an ISO 4217 currency code.");
        var day = date is null ? null : NodaTime.Text.LocalDatePattern.Iso.Parse(date) is { Success: true } parsed ? parsed.Value : (LocalDate?)null;
        if (date is not null && day is null) check.Add("date", "must be an ISO date such as 2011-03-15.");
        if (page < 1) check.Add("page", "must be 1 or more.");
        if (pageSize is < 1 or > 500) check.Add("pageSize", "must be between 1 and 500.");
        if (!check.IsValid) return TypedResults.Problem(check.ToProblem());

        IQueryable<ExchangeRate> query = session.Query<ExchangeRate>();
        if (currency is not null) query = query.Where(r => r.Currency == currency);
        if (fundCurrency is not null) query = query.Where(r => r.FundCurrency == fundCurrency);
        if (day is { } onDay) query = query.Where(r => r.Date == onDay);
        if (fundId is { } fund) query = query.Where(r => r.FundId == fund);
        var results = await Marten.Pagination.PagedListQueryableExtensions.ToPagedListAsync(
            query.OrderBy(r => r.Currency).ThenByDescending(r => r.Date), page, pageSize, ct);
        return TypedResults.Ok(new PagedList<ExchangeRate>(results.ToArray(), page, pageSize, results.TotalItemCount));
    }
}

/// <summary>Record a rate for a fund (the API contract's route): the fund's own rate, the one its entitlements are converted at; the fund's currency is the one converted into.</summary>
public sealed record RecordFundExchangeRate(LocalDate Date, string Currency, decimal Rate);

public static class RecordFundExchangeRateEndpoint
{
    [WolverinePost("/api/funds/{fundId}/exchange-rates", Name = "RecordFundExchangeRate")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Exchange rates")]
    [ProducesResponseType<ExchangeRate>(StatusCodes.Status201Created)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status409Conflict, "application/problem+json")]
    [EndpointSummary("Record the fund's own rate of a currency against its currency for a day (finance): 1 currency = rate fund currency; approvals of its claims use it")]
    public static async Task<IResult> Post(Guid fundId, RecordFundExchangeRate command, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct)
    {
        var fund = await session.LoadAsync<Funds.Fund>(fundId, ct);
        if (fund is null) return Problems.NotFound("Fund", fundId).ToResult();
        var full = new RecordExchangeRate(command.Date, command.Currency, fund.Currency, command.Rate);
        var problem = RecordExchangeRateEndpoint.Validate(full);
        if (!ReferenceEquals(problem, Problems.None)) return problem.ToResult();
        return await RecordExchangeRateEndpoint.Record(full, session, user, clock, ct, fundId);
    }
}
