using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using CsCheck;
using NodaTime;

namespace CompensationLedger.Specs.Funds;

/// <summary>
/// Thousands of random histories of deposits, entitlements, rounds (prepared, released by the
/// preparer or someone else, cancelled), settlements, returns and reissues, each step through the
/// pure decisions; after every step the invariants of DOMAIN.md must hold. Fixed seed: a failure
/// names its sequence number and reproduces on every run.
/// </summary>
public sealed class FundInvariantProperties
{
    private const int Sequences = 3_000;
    private static readonly Instant Now = Instant.FromUtc(2011, 6, 1, 9, 0);
    private static readonly string[] Staff = ["fiona", "frank", "fatima"];
    private static readonly string[] Suppliers = ["cnxinda", "huaxin2010", "no-pool-supplier"];
    private static readonly Guid CaseId = Guid.Parse("0195a2c0-0000-7000-8000-000000000042");

    private sealed record Setup(string Currency, decimal MinimumPaymentUnits, bool GeneralBacksPerpetrators, decimal? CapPerBuyerUnits);

    private sealed record Step(int Kind, int Pick, int Units);

    private static readonly Gen<Setup> SetupGen =
        Gen.Select(Gen.Int[0, 2], Gen.Int[0, 3], Gen.Bool, Gen.Int[0, 3])
            .Select((currency, minimum, backs, cap) => new Setup(currency switch { 0 => "USD", 1 => "JPY", _ => "BHD" }, minimum * 700, backs,
                cap == 0 ? null : 100_000m + cap * 60_000m));

    private static readonly Gen<Step[]> StepsGen =
        Gen.Select(Gen.Int[0, 11], Gen.Int[0, 1_000], Gen.Int[1, 300_000]).Select((kind, pick, units) => new Step(kind, pick, units)).Array[1, 40];

    [Fact]
    public void the_books_balance_no_pool_goes_negative_and_no_claim_is_overpaid_after_every_step()
    {
        var generator = Gen.Select(SetupGen, StepsGen);
        var pcg = new PCG(7, 2011);
        var steps = 0;
        var seen = new Dictionary<string, int>();
        for (var sequence = 0; sequence < Sequences; sequence++)
        {
            var (setup, history) = generator.Generate(pcg, null, out _);
            try
            {
                steps += Run(setup, history, seen);
            }
            catch (Exception e) when (e is ShouldAssertException or InvalidOperationException or KeyNotFoundException or ArgumentException)
            {
                throw new ShouldAssertException($"Sequence {sequence} ({setup}, steps: {string.Join(", ", history.AsEnumerable())}) broke an invariant: {e.Message}", e);
            }
        }
        steps.ShouldBeGreaterThan(Sequences * 10);
        // The histories reach every kind of money movement, many times over (a degenerate generator would prove nothing).
        foreach (var kind in new[] { nameof(PoolDeposited), nameof(EntitlementRecorded), nameof(RoundPrepared), nameof(RoundReleased), nameof(RoundCancelled),
                     nameof(PayoutSettled), nameof(PayoutReturned), nameof(PayoutReissuePrepared), nameof(PayoutReissued), nameof(BankStatementImported) })
            // A reissue takes two steps (prepare, approve by someone else) after a return, so it is the rarest.
            seen.GetValueOrDefault(kind).ShouldBeGreaterThan(kind == nameof(PayoutReissued) ? 25 : 50, $"{kind}; seen: {string.Join(", ", seen.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}"))}");
        seen.GetValueOrDefault("refused:four-eyes").ShouldBeGreaterThan(50);
        seen.GetValueOrDefault("payout-of-several-claims").ShouldBeGreaterThan(50);
    }

    private static int Run(Setup setup, Step[] history, Dictionary<string, int> seen)
    {
        var fundId = Guid.NewGuid();
        var unit = Unit(setup.Currency);
        Money M(decimal units) => Money.Of(units * unit, setup.Currency);
        var policy = new PolicyVersion(1, new LocalDate(2011, 1, 1), 0.7m, M(100_000), setup.CapPerBuyerUnits is { } cap ? M(cap) : null,
            M(setup.MinimumPaymentUnits), 90, 30, 60, setup.GeneralBacksPerpetrators);
        var general = Guid.NewGuid();
        var perpetratorPools = new[] { Guid.NewGuid(), Guid.NewGuid() };
        var events = new List<object>
        {
            new FundEstablished(fundId, "Fund", "Sponsor", setup.Currency, ["Alibaba.com"], policy, "fiona", Now),
            new PoolOpened(fundId, general, PoolKind.General, "General", null, "fiona", Now),
            new PoolOpened(fundId, perpetratorPools[0], PoolKind.Perpetrator, "Xinda", new PerpetratorAccount(CaseId, "Alibaba.com", Suppliers[0]), "fiona", Now),
            new PoolOpened(fundId, perpetratorPools[1], PoolKind.Perpetrator, "Huaxin", new PerpetratorAccount(CaseId, "Alibaba.com", Suppliers[1]), "fiona", Now),
        };
        var fund = Fund.Replay(events);
        var postings = events.SelectMany(Books.PostingsFor).ToList();
        var deposits = 0;

        foreach (var step in history)
        {
            var decision = step.Kind switch
            {
                0 or 1 => DepositToPoolEndpoint.Decide(fund, Pick(step.Pick, [general, .. perpetratorPools]),
                    new DepositToPool(M(step.Units), $"DEP-{(step.Pick % 5 == 0 ? 0 : ++deposits)}", new LocalDate(2011, 5, 1)), "fiona", Now),
                2 or 3 => RecordEntitlementHandler.Decide(fund, new RecordEntitlement(fundId, ClaimId(step.Pick % 12), $"CL-{step.Pick % 12:D4}", CaseId,
                    "Alibaba.com", Suppliers[step.Pick % 3], "GB", M(step.Units % 150_000 + 1), "claims", $"buyer:{step.Pick % 12 % 5}"), Now),
                4 => PrepareRoundEndpoint.Decide(fund, Guid.NewGuid(), Pick(step.Pick, Staff), Now),
                5 => fund.Rounds.IsEmpty ? null : ReleaseRoundEndpoint.Decide(fund, Pick(step.Pick, fund.Rounds.Keys.Order().ToArray()), Guid.NewGuid, Pick(step.Units, Staff), Now),
                6 => fund.Payouts.IsEmpty ? null : SettlePayoutEndpoint.Decide(fund, Pick(step.Pick, fund.Payouts.Keys.Order().ToArray()), new RecordPayoutSettlement(), "fiona", Now),
                7 => fund.Payouts.IsEmpty ? null : ReturnPayoutEndpoint.Decide(fund, Pick(step.Pick, fund.Payouts.Keys.Order().ToArray()), new RecordPayoutReturn("bounced"), "fiona", Now),
                8 or 9 => fund.Payouts.IsEmpty ? null : Reissue(fund, Pick(step.Pick, Reissuable(fund)), Pick(step.Units, Staff)),
                10 => fund.Payouts.IsEmpty ? null : ImportBankStatementEndpoint.Decide(fund, Statement(fund, step), "fiona", Now),
                _ => fund.Rounds.IsEmpty ? null : CancelRoundEndpoint.Decide(fund, Pick(step.Pick, fund.Rounds.Keys.Order().ToArray()), new CancelRound("redo"), "fiona", Now),
            };
            if (decision is null) continue;
            if (decision.IsRefused)
            {
                Check(decision.Events.Count == 0, "a refusal appends nothing");
                seen["refused:" + decision.Refusal!.Code] = seen.GetValueOrDefault("refused:" + decision.Refusal.Code) + 1;
            }
            var start = fund;
            var before = start.AsStored();
            var atOnce = Fund.Fold(start, decision.Events)!;
            foreach (var e in decision.Events)
            {
                seen[e.GetType().Name] = seen.GetValueOrDefault(e.GetType().Name) + 1;
                if (e is RoundReleased released)
                    seen["payout-of-several-claims"] = seen.GetValueOrDefault("payout-of-several-claims") + released.Payouts.Count(p => p.ClaimLines!.Select(l => l.ClaimId).Distinct().Count() > 1);
                fund = Fund.Fold(fund, e)!;
                postings.AddRange(Books.PostingsFor(e));
                events.Add(e);
            }
            // The decision's events folded at once (one set of builders) make the same fund as one by one, and leave the fund they started from as it was.
            atOnce.ShouldBeFact(fund);
            Fund.Fold(null, events)!.ShouldBeFact(fund);
            start.AsStored().ShouldBe(before);
            AssertInvariants(fund, postings, unit);
        }
        return history.Length;
    }

    private static void AssertInvariants(Fund fund, List<Posting> postings, decimal unit)
    {
        // Invariant 1: no pool negative.
        foreach (var pool in fund.Pools.Values)
        {
            Check(pool.Available >= 0m, $"available of {pool.Name}");
            Check(pool.Allocated >= 0m, $"allocated of {pool.Name}");
            Check(pool.InTransit >= 0m, $"in transit of {pool.Name}");
        }

        // Invariants 1 and 2: no claim is ever committed (set aside, in transit or paid) beyond its entitlement, counted from the payouts themselves.
        foreach (var claim in fund.Entitlements.Values)
        {
            var allocated = fund.Rounds.Values.Where(r => r.Status == RoundStatus.Prepared).SelectMany(r => r.Allocations)
                .Where(a => a.ClaimId == claim.ClaimId).Sum(a => a.Amount.Amount);
            var paidOrPaying = fund.Payouts.Values.Where(p => p.Status != PayoutStatus.Returned).Sum(p => p.For(claim.ClaimId));
            Check((allocated + paidOrPaying) == claim.Committed, $"committed to {claim.ClaimReference}");
            Check(claim.Committed <= claim.Amount, $"claim {claim.ClaimReference}");
            Check(claim.Settled >= 0m, "non-negative");
        }
        // The cap per buyer: no buyer is ever committed more than it, across claims, rounds and reissues.
        if (fund.Policies[0].CapPerBuyer is { } cap)
            foreach (var buyer in fund.Entitlements.Values.GroupBy(e => e.Payee))
                Check(buyer.Sum(e => e.Committed) <= cap.Amount, $"cap per buyer of {buyer.Key}");
        foreach (var payout in fund.Payouts.Values)
        {
            Check(payout.Amount.Amount == payout.Lines.Sum(l => l.Amount.Amount), "payout = its lines");
            Check(payout.Amount.Amount == payout.PerClaim.Sum(l => l.Amount.Amount), "payout = its claim lines");
            Check(payout.PerClaim.Select(l => fund.Entitlements[l.ClaimId].Payee).Distinct().Count() == 1, "one payout pays one buyer");
            Check(payout.Amount.Amount > 0m, "positive");
            Check((payout.Amount.Amount % unit) == 0m, "payouts are whole minor units");
        }
        Check(fund.Payouts.Values.Select(p => p.Reference).Distinct().Count() == fund.Payouts.Count, "payout references are unique");

        // Invariant 3: the books balance, and every pool's figures are derivable from postings alone.
        Check(postings.Sum(p => p.Debit.Amount) == postings.Sum(p => p.Credit.Amount), "debits = credits");
        Check(postings.TrueForAll(p => p.Debit.Currency == fund.Currency && p.Credit.Currency == fund.Currency), "one currency");
        var balances = Books.Balances(postings);
        decimal Balance(Guid pool, string account) => balances.GetValueOrDefault((pool, account));
        foreach (var pool in fund.Pools.Values)
        {
            Check((-Balance(pool.Id, Books.Contributions)) == pool.Deposited, $"deposited of {pool.Name}");
            Check(Balance(pool.Id, Books.PoolCash) == pool.Available, $"available of {pool.Name}");
            Check(Balance(pool.Id, Books.ClaimsAllocated) == pool.Allocated, $"allocated of {pool.Name}");
            Check(Balance(pool.Id, Books.PayoutsInTransit) == pool.InTransit, $"in transit of {pool.Name}");
            Check(Balance(pool.Id, Books.CompensationPaid) == pool.Settled, $"settled of {pool.Name}");
            Check(pool.Deposited == pool.Available + pool.Allocated + pool.InTransit + pool.Settled, "deposited = available + allocated + in transit + settled");
        }
    }

    private static void Check(bool holds, string invariant)
    {
        if (!holds) throw new ShouldAssertException(invariant);
    }

    /// <summary>A statement over some of the fund's payouts: debits and credits, some with the wrong amount, one unknown reference.</summary>
    private static IReadOnlyList<StatementLine> Statement(Fund fund, Step step)
    {
        var payouts = fund.Payouts.Values.OrderBy(p => p.Reference, StringComparer.Ordinal).ToArray();
        var lines = Enumerable.Range(0, 1 + step.Units % 4).Select(i =>
        {
            var payout = payouts[(step.Pick + i * 7) % payouts.Length];
            var amount = (step.Units >> i) % 5 == 0 ? payout.Amount with { Amount = payout.Amount.Amount + Unit(fund.Currency) } : payout.Amount;
            return new StatementLine(i + 2, new LocalDate(2011, 6, 1), payout.Reference, amount, (step.Pick >> i) % 2 == 0 ? StatementDirection.Debit : StatementDirection.Credit);
        }).ToList();
        lines.Add(new StatementLine(lines.Count + 2, new LocalDate(2011, 6, 1), $"UNKNOWN-{step.Units}", Money.Of(Unit(fund.Currency), fund.Currency), StatementDirection.Credit));
        return lines;
    }

    /// <summary>
    /// Reissues waiting for approval, else returned payouts not reissued yet, else every payout (to be refused): so that
    /// preparations are often followed by approvals.
    /// </summary>
    private static Guid[] Reissuable(Fund fund) =>
        fund.Payouts.Values.Where(p => p.PendingReissue is not null).Select(p => p.Id).Order().ToArray() is { Length: > 0 } pending ? pending
        : fund.Payouts.Values.Where(p => p.Status == PayoutStatus.Returned && p.ReissuedAs is null).Select(p => p.Id).Order().ToArray() is { Length: > 0 } returned ? returned
        : fund.Payouts.Keys.Order().ToArray();

    /// <summary>Prepares a reissue, or approves the one prepared (by whoever: the same person is refused).</summary>
    private static Decision Reissue(Fund fund, Guid payoutId, string by) =>
        fund.Payouts[payoutId].PendingReissue is null
            ? ReissuePayoutEndpoint.Decide(fund, payoutId, new ReissuePayout(new BankDetails("Buyer", "GB29NWBK60161331926819")), by, Now)
            : ApproveReissueEndpoint.Decide(fund, payoutId, Guid.NewGuid(), by, Now);

    private static T Pick<T>(int n, T[] items) => items[n % items.Length];

    private static Guid ClaimId(int n) => Guid.Parse($"0195a2c0-0000-7000-8000-{n:D12}");

    private static decimal Unit(string currency) => currency switch { "JPY" => 1m, "BHD" => 0.001m, _ => 0.01m };
}
