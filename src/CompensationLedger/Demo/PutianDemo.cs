using System.Globalization;
using CompensationLedger.Cases;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using JasperFx.CommandLine;
using Marten;
using NodaTime;

namespace CompensationLedger.Demo;

/// <summary>
/// The model case: the Putian ring broken up in 2011, which used 100+ fake "Gold Supplier"
/// accounts on Alibaba.com, Made-in-China.com, EC21.com and ECPLAZA.net and 137 bank cards to
/// take about US$6.6 million from overseas buyers. Account names and numbers are invented but
/// deterministic, so every run of the seed produces the same data. Seeding goes through the same
/// decisions as the API, and is skipped when the case already exists.
/// </summary>
public static class PutianDemo
{
    public static readonly Guid CaseId = Guid.Parse("0195a2c0-2011-7000-8000-000000000001");
    public const string Investigator = "demo.investigator";
    public static readonly string[] Platforms = ["Alibaba.com", "Made-in-China.com", "EC21.com", "ECPLAZA.net"];
    public const int SupplierAccountCount = 104;
    public const int BankCardCount = 137;

    private static readonly string[] TradeNames =
    [
        "Xinda", "Huaxin", "Jinpeng", "Tianyu", "Minfeng", "Haoyuan", "Ruida", "Changhong", "Dexin", "Fuxing",
        "Guangda", "Hengtai", "Jiahe", "Kaiyuan", "Longsheng",
    ];

    private static readonly string[] Goods =
    [
        "Electronics", "Digital Technology", "Mobile Phones", "Laptop Trading", "Optoelectronics", "LCD Display", "Camera",
    ];

    public static OpenFraudCase Opening => new(
        "Putian Gold Supplier ring (2011)",
        Platforms,
        new LocalDate(2009, 6, 1),
        new LocalDate(2011, 2, 28),
        Money.Of(6_600_000.00m, "USD"));

    public static IReadOnlyList<SupplierAccountToFlag> SupplierAccounts() =>
        Enumerable.Range(1, SupplierAccountCount)
            .Select(i => new SupplierAccountToFlag(
                // Alibaba.com hosted most of the fake Gold Suppliers; the rest spread over the other three.
                i <= 70 ? Platforms[0] : Platforms[1 + (i % 3)],
                $"cn{1_000_100 + i * 37}",
                $"Putian {TradeNames[i % TradeNames.Length]} {Goods[i % Goods.Length]} Co., Ltd."))
            .ToArray();

    public static IReadOnlyList<BankAccountToFlag> BankCards() =>
        Enumerable.Range(1, BankCardCount)
            .Select(i => new BankAccountToFlag(
                // Card numbers as police lists print them: groups of four, which the ledger normalises away.
                string.Join(' ', (6_222_340_200_000_000L + i * 7_919L).ToString(CultureInfo.InvariantCulture).Chunk(4).Select(c => new string(c))),
                i % 2 == 0 ? "Industrial and Commercial Bank of China" : "Agricultural Bank of China",
                null,
                "CN"))
            .ToArray();

    /// <summary>Seeds the demo data (the case, then its claims), each part unless it is already there; returns false when nothing was missing.</summary>
    public static async Task<bool> SeedAsync(IDocumentStore store, IClock clock, CancellationToken ct = default, ClaimPolicySettings? policy = null)
    {
        var seededCase = await SeedCaseAsync(store, clock, ct);
        await using var query = store.QuerySession();
        var fraudCase = await query.LoadAsync<FraudCase>(CaseId, ct)
            ?? throw new InvalidOperationException("The demo case was not saved.");
        var seededClaims = await PutianDemoClaims.SeedAsync(store, fraudCase, policy ?? DemoPolicy, ct);
        return seededCase || seededClaims;
    }

    /// <summary>The configured policy of appsettings.json, for callers without configuration (tests).</summary>
    public static ClaimPolicySettings DemoPolicy => new() { EligiblePlatforms = ["Alibaba.com", "Made-in-China.com", "EC21.com"] };

    private static async Task<bool> SeedCaseAsync(IDocumentStore store, IClock clock, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        if (await session.LoadAsync<FraudCase>(CaseId, ct) is not null) return false;

        var now = clock.GetCurrentInstant();
        var opened = OpenFraudCaseEndpoint.Decide(CaseId, Opening, Investigator, now);
        var fraudCase = FraudCase.Create(opened);
        var suppliers = FlagSupplierAccountsEndpoint.Decide(fraudCase, new FlagSupplierAccounts(SupplierAccounts()), Investigator, now);
        var cards = FlagBankAccountsEndpoint.Decide(fraudCase, new FlagBankAccounts(BankCards()), Investigator, now);
        if ((suppliers.Refusal ?? cards.Refusal) is { } refusal)
            throw new InvalidOperationException($"The demo data breaks a rule: {refusal.Detail}");

        session.Events.StartStream<FraudCase>(CaseId, [opened, .. suppliers.Events, .. cards.Events]);
        await session.SaveChangesAsync(ct);
        return true;
    }
}

[Description("Loads the demo data (the 2011 Putian fraud ring) unless it is already there", Name = "seed-demo")]
public sealed class SeedDemoCommand : JasperFxAsyncCommand<NetCoreInput>
{
    public override async Task<bool> Execute(NetCoreInput input)
    {
        using var host = input.BuildHost();
        var store = host.Services.GetRequiredService<IDocumentStore>();
        var clock = host.Services.GetRequiredService<IClock>();
        var seeded = await PutianDemo.SeedAsync(store, clock, policy: host.Services.GetRequiredService<ClaimPolicySettings>());
        Console.WriteLine(seeded
            ? $"Seeded the Putian case {PutianDemo.CaseId}: {PutianDemo.Platforms.Length} platforms, {PutianDemo.SupplierAccountCount} supplier accounts, {PutianDemo.BankCardCount} bank cards, and its demo claims."
            : $"The Putian case {PutianDemo.CaseId} and its claims are already there; nothing changed.");
        return true;
    }
}

/// <summary>With <c>Ledger:SeedDemo</c> on (Development), the running service seeds the demo data at start.</summary>
public sealed class DemoSeedOnStart(IDocumentStore store, IClock clock, ClaimPolicySettings policy, IConfiguration configuration, ILogger<DemoSeedOnStart> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!configuration.GetValue("Ledger:SeedDemo", false)) return;
        if (await PutianDemo.SeedAsync(store, clock, cancellationToken, policy))
            logger.LogInformation("Seeded the demo Putian fraud case {CaseId} (Ledger:SeedDemo is on)", PutianDemo.CaseId);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
