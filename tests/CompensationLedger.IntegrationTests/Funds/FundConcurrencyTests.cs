using System.Text.Json;
using CompensationLedger.IntegrationTests.Infrastructure;
using Marten;

namespace CompensationLedger.IntegrationTests.Funds;

/// <summary>Money moves once, whatever arrives at the same moment: every money decision commits only at the fund stream's version it read.</summary>
public sealed class FundConcurrencyTests(LedgerApp app) : IntegrationTest(app)
{
    private async Task<long> EventsOfType<T>()
    {
        await using var session = App.Store.QuerySession();
        return (await session.Events.QueryAllRawEvents().ToListAsync()).Count(e => e.Data is T);
    }

    [Fact]
    public async Task the_same_round_released_by_ten_requests_at_once_moves_the_money_once()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 1_000.00m, "DEP-1");
        for (var n = 1; n <= 3; n++) await App.Entitle(fundId, n, 1_000m);
        var roundId = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
            App.Finance($"releaser{i}").PostJson($"/api/rounds/{roundId}/release", new { })));

        responses.Count(r => (int)r.StatusCode == 200).ShouldBe(1);
        foreach (var refused in responses.Where(r => (int)r.StatusCode != 200))
        {
            var code = (await refused.ShouldBeProblem(409)).GetProperty("code").GetString();
            code.ShouldBeOneOf("round-not-prepared", "concurrent-change");
        }
        (await EventsOfType<CompensationLedger.Funds.RoundReleased>()).ShouldBe(1);
        var pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("inTransit").ShouldBe(1_000m);
        pool.Amount("allocated").ShouldBe(0m);
        pool.Amount("available").ShouldBe(0m);
        var payouts = await (await App.Finance().GetAsync($"/api/payouts?fundId={fundId}")).Json();
        payouts.GetProperty("totalCount").GetInt64().ShouldBe(3);
    }

    [Fact]
    public async Task ten_rounds_prepared_at_once_on_one_pool_promise_its_money_once()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 1_000.00m, "DEP-1");
        for (var n = 1; n <= 3; n++) await App.Entitle(fundId, n, 1_000m);

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
            App.Finance($"preparer{i}").PostJson($"/api/funds/{fundId}/rounds", new { })));

        responses.Count(r => (int)r.StatusCode == 201).ShouldBe(1);
        foreach (var refused in responses.Where(r => (int)r.StatusCode != 201))
            (await refused.ShouldBeProblem(409)).GetProperty("code").GetString().ShouldBeOneOf("nothing-to-allocate", "concurrent-change");
        var pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("allocated").ShouldBe(1_000m);
        pool.Amount("available").ShouldBe(0m);
    }

    [Fact]
    public async Task two_rounds_on_one_pool_released_at_once_each_move_their_money_once_and_the_pool_never_goes_below_zero()
    {
        var fundId = await App.EstablishFund();
        var poolId = await App.OpenGeneralPool(fundId);
        await App.Deposit(fundId, poolId, 1_000.00m, "DEP-1");
        await App.Entitle(fundId, 1, 600m);
        await App.Entitle(fundId, 2, 600m);
        var first = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        await App.Deposit(fundId, poolId, 500.00m, "DEP-2");
        await App.Entitle(fundId, 3, 300m);
        var second = (await App.PrepareRound(fundId)).GetProperty("id").GetGuid();
        var before = (await App.GetFund(fundId)).Pool(poolId);
        before.Amount("allocated").ShouldBe(1_500m);
        before.Amount("available").ShouldBe(0m);

        // Five releasers per round, all at once; a request that lost a race (409 concurrent-change) is retried, as a client would.
        var released = await Task.WhenAll(new[] { first, second }.SelectMany(round => Enumerable.Range(0, 5).Select(async i =>
        {
            for (var attempt = 0; attempt < 20; attempt++)
            {
                var response = await App.Finance($"releaser{i}").PostJson($"/api/rounds/{round}/release", new { });
                if ((int)response.StatusCode == 200) return (round, ok: true);
                var code = (await response.ShouldBeProblem(409)).GetProperty("code").GetString();
                if (code == "round-not-prepared") return (round, ok: false);
                code.ShouldBe("concurrent-change");
            }
            return (round, ok: false);
        })));

        released.Count(r => r.ok && r.round == first).ShouldBe(1);
        released.Count(r => r.ok && r.round == second).ShouldBe(1);
        (await EventsOfType<CompensationLedger.Funds.RoundReleased>()).ShouldBe(2);
        var pool = (await App.GetFund(fundId)).Pool(poolId);
        pool.Amount("deposited").ShouldBe(1_500m);
        pool.Amount("inTransit").ShouldBe(1_500m);
        pool.Amount("allocated").ShouldBe(0m);
        pool.Amount("available").ShouldBe(0m);
        var books = await (await App.Finance().GetAsync($"/api/funds/{fundId}/books")).Json();
        books.Amount("totalDebits").ShouldBe(books.Amount("totalCredits"));
    }

    [Fact]
    public async Task entitlements_arriving_at_once_are_all_recorded_once()
    {
        var fundId = await App.EstablishFund();

        // Twenty approvals at once, each sent twice: the seam retries on a concurrent change and ignores a repeat.
        var claims = Enumerable.Range(1, 20).Select(n => (n, id: Guid.CreateVersion7())).ToList();
        var bus = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Wolverine.IMessageBus>(App.Host.Services);
        await Task.WhenAll(claims.Concat(claims).Select(c => bus.InvokeAsync(new[] { new CompensationLedger.Funds.RecordEntitlement(fundId, c.id, $"CL-2011-{c.n:D6}",
            Guid.Empty, "Alibaba.com", "someone", "GB", Money.Of(100m + c.n, "USD"), "claims.approver") })));

        var fund = await App.GetFund(fundId);
        fund.GetProperty("entitlements").GetProperty("claims").GetInt32().ShouldBe(20);
        fund.GetProperty("entitlements").Amount("entitled").ShouldBe(20 * 100m + 210m);
        (await EventsOfType<CompensationLedger.Funds.EntitlementRecorded>()).ShouldBe(20);
    }

    [Fact]
    public async Task three_hundred_approvals_for_two_funds_are_recorded_once_each_in_batches_with_one_refused_alone()
    {
        var fundA = await App.EstablishFund();
        var fundB = await App.EstablishFund();
        var claims = Enumerable.Range(1, 300).Select(n => (n, id: Guid.CreateVersion7(), fund: n % 3 == 0 ? fundB : fundA)).ToList();
        var bus = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Wolverine.IMessageBus>(App.Host.Services);
        CompensationLedger.Funds.RecordEntitlement Owed((int n, Guid id, Guid fund) c, string currency = "USD") =>
            new(c.fund, c.id, $"CL-2011-{c.n:D6}", Guid.Empty, "Alibaba.com", "someone", "GB", Money.Of(100m + c.n, currency), "claims.approver", $"buyer:{c.n % 50}");

        // As approvals do: messages on the durable local queue (here all at once, and each twice), plus one the fund must refuse.
        var wrongCurrency = (n: 999, id: Guid.CreateVersion7(), fund: fundA);
        await Task.WhenAll(claims.Concat(claims).Select(c => bus.PublishAsync(Owed(c)).AsTask()).Append(bus.PublishAsync(Owed(wrongCurrency, "EUR")).AsTask()));

        for (var attempt = 0; attempt < 300; attempt++)
        {
            if (await EventsOfType<CompensationLedger.Funds.EntitlementRecorded>() >= 300) break;
            await Task.Delay(100);
        }
        await Task.Delay(500);
        (await EventsOfType<CompensationLedger.Funds.EntitlementRecorded>()).ShouldBe(300);
        var a = (await App.GetFund(fundA)).GetProperty("entitlements");
        var b = (await App.GetFund(fundB)).GetProperty("entitlements");
        a.GetProperty("claims").GetInt32().ShouldBe(200);
        b.GetProperty("claims").GetInt32().ShouldBe(100);
        (a.Amount("entitled") + b.Amount("entitled")).ShouldBe(claims.Sum(c => 100m + c.n));

        // Batched: far fewer appends to the fund streams than approvals (each append is one new stream version per event,
        // so count the transactions instead: the events of one append share their transaction's timestamp).
        await using var session = App.Store.QuerySession();
        var recorded = (await session.Events.QueryAllRawEvents().ToListAsync()).Where(e => e.Data is CompensationLedger.Funds.EntitlementRecorded).ToList();
        recorded.Select(e => e.Timestamp).Distinct().Count().ShouldBeLessThan(150);
    }
}
