
using System.Globalization;
using CompensationLedger.Cases;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using JasperFx.CommandLine;
using Marten;
using NodaTime;

namespace CompensationLedger.Demo;

/// <summary>
/// The fund side of the demo: a Fair Play Fund with a general pool (the sponsor's money) and
/// perpetrator pools holding the forfeited fees of three of the Putian ring's suppliers, and
/// approved claims fed in through the entitlement seam (as the claims feature will do), so that
/// finance can prepare and release a round straight away. Deterministic; skipped when present.
/// Needs the Putian case (<see cref="PutianDemo"/>) first.
/// </summary>
public static class FairPlayFundDemo
{
    public static readonly Guid FundId = Guid.Parse("0195a2c0-2011-7000-8000-0000000f0001");
    public static readonly Guid GeneralPoolId = Guid.Parse("0195a2c0-2011-7000-8000-0000000f0100");
    public const string Finance = "demo.finance";
    public const string SecondFinance = "demo.finance2";
    public static readonly Guid FirstRoundId = Guid.Parse("0195a2c0-2011-7000-8000-0000000f0a01");

    public static async Task<bool> SeedAsync(IDocumentStore store, IClock clock, CancellationToken ct = default)
    {
        await using var session = store.LightweightSession();
        if (await session.LoadAsync<Fund>(FundId, ct) is not null) return false;
        var fraudCase = await session.LoadAsync<FraudCase>(PutianDemo.CaseId, ct)
            ?? throw new InvalidOperationException("Seed the Putian case first (seed-demo).");

        var now = clock.GetCurrentInstant();
        var established = EstablishFundEndpoint.Decide(FundId, new EstablishFund("Fair Play Fund", "Alibaba.com", "USD", PutianDemo.Platforms,
            new PolicyTerms(new LocalDate(2011, 2, 21), 0.70m, Money.Of(1_000m, "USD"), Money.Of(5m, "USD"), 90, 30, 60)), Finance, now);
        var fund = Fund.Create(established);
        var events = new List<object> { established };

        void Apply(Decision decision)
        {
            if (decision.Refusal is { } refusal) throw new InvalidOperationException($"The demo data breaks a rule: {refusal.Detail}");
            foreach (var e in decision.Events)
            {
                fund = Fund.Fold(fund, e)!;
                events.Add(e);
            }
        }

        Apply(OpenPoolEndpoint.Decide(fund, GeneralPoolId, new OpenPool(PoolKind.General, "General pool (sponsor)"), null, Finance, now));
        Apply(DepositToPoolEndpoint.Decide(fund, GeneralPoolId, new DepositToPool(Money.Of(20_000m, "USD"), "SPONSOR-2011-0001", new LocalDate(2011, 3, 1)), Finance, now));
        var suppliers = fraudCase.SupplierAccounts.Take(3).ToArray();
        for (var i = 0; i < suppliers.Length; i++)
        {
            var poolId = Guid.Parse($"0195a2c0-2011-7000-8000-0000000f02{i:D2}");
            Apply(OpenPoolEndpoint.Decide(fund, poolId, new OpenPool(PoolKind.Perpetrator, $"Forfeited fees: {suppliers[i].DisplayName}", fraudCase.Id,
                suppliers[i].Platform, suppliers[i].AccountId), fraudCase, Finance, now));
            Apply(DepositToPoolEndpoint.Decide(fund, poolId, new DepositToPool(Money.Of(2_999m, "USD"), $"FORFEIT-{suppliers[i].AccountId}", new LocalDate(2011, 3, 1)), Finance, now));
        }
        // The fund covers the Putian case: every approved demo claim is owed its entitlement (what an approval's
        // message does in the running service), then a first round is prepared and released by two people,
        // and the bank settles the first payout.
        Apply(CoverCaseEndpoint.Decide(fund, fraudCase, null, fraudCase.Id, Finance, now));
        var approved = await session.Query<Claims.Claim>().Where(c => c.CaseId == fraudCase.Id && c.Status == Claims.ClaimStatus.Approved).ToListAsync(ct);
        foreach (var claim in approved.OrderBy(c => c.Reference, StringComparer.Ordinal))
            Apply(RecordEntitlementHandler.Decide(fund, CoverCaseEndpoint.EntitlementFor(FundId, claim, PutianDemoClaims.Approver)!, now));
        if (approved.Count > 0)
        {
            Apply(PrepareRoundEndpoint.Decide(fund, FirstRoundId, Finance, now));
            var payoutNumber = 0;
            Apply(ReleaseRoundEndpoint.Decide(fund, FirstRoundId, () => Guid.Parse($"0195a2c0-2011-7000-8000-0000000fa{++payoutNumber:D3}"), SecondFinance, now));
            // The bank's statement: the first payout arrived, the second bounced (closed account), the sponsor's deposit is
            // confirmed and a bank fee nobody booked is left for the reconciliation report; the other payouts are still in
            // transit, so the report lists them as expected. The bounced payout's reissue to corrected details is prepared
            // by one finance user and waits for another to approve it (four eyes).
            var payouts = fund.Payouts.Values.OrderBy(p => p.Reference, StringComparer.Ordinal).ToArray();
            var statementDay = now.InUtc().Date;
            var lines = new List<StatementLine>
            {
                new(1, statementDay, "SPONSOR-2011-0001", Money.Of(20_000m, "USD"), StatementDirection.Credit),
                new(2, statementDay, payouts[0].Reference, payouts[0].Amount, StatementDirection.Debit),
                new(3, statementDay, "FEE-WIRE-2011-04", Money.Of(25m, "USD"), StatementDirection.Debit),
            };
            if (payouts.Length > 1) lines.Add(new(4, statementDay, payouts[1].Reference, payouts[1].Amount, StatementDirection.Credit));
            Apply(ImportBankStatementEndpoint.Decide(fund, lines, SecondFinance, now));
            if (payouts.Length > 1)
                Apply(ReissuePayoutEndpoint.Decide(fund, payouts[1].Id,
                    new ReissuePayout(new BankDetails("Demo Buyer (corrected account)", "DE89370400440532013000", "Commerzbank", "COBADEFFXXX", "DE")), Finance, now));
        }

        session.Events.StartStream<Fund>(FundId, events);
        await session.SaveChangesAsync(ct);
        return true;
    }
}

[Description("Loads the demo fund (pools, deposits, approved claims) after seed-demo, unless it is already there", Name = "seed-fund-demo")]
public sealed class SeedFundDemoCommand : JasperFxAsyncCommand<NetCoreInput>
{
    public override async Task<bool> Execute(NetCoreInput input)
    {
        using var host = input.BuildHost();
        var store = host.Services.GetRequiredService<IDocumentStore>();
        var clock = host.Services.GetRequiredService<IClock>();
        await PutianDemo.SeedAsync(store, clock);
        var seeded = await FairPlayFundDemo.SeedAsync(store, clock);
        Console.WriteLine(seeded
            ? string.Create(CultureInfo.InvariantCulture, $"Seeded the demo fund {FairPlayFundDemo.FundId}: a general pool, 3 perpetrator pools, the Putian case covered, a first round paid.")
            : $"The demo fund {FairPlayFundDemo.FundId} is already there; nothing changed.");
        return true;
    }
}

/// <summary>With <c>Ledger:SeedDemo</c> on, seeds the demo fund after the demo case (hosted services start in registration order).</summary>
public sealed class FundDemoSeedOnStart(IDocumentStore store, IClock clock, IConfiguration configuration, ILogger<FundDemoSeedOnStart> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!configuration.GetValue("Ledger:SeedDemo", false)) return;
        if (await FairPlayFundDemo.SeedAsync(store, clock, cancellationToken))
            logger.LogInformation("Seeded the demo fund {FundId} (Ledger:SeedDemo is on)", FairPlayFundDemo.FundId);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
