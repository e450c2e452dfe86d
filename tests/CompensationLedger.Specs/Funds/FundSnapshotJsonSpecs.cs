using System.Text.Json;
using System.Text.Json.Nodes;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using NodaTime;

namespace CompensationLedger.Specs.Funds;

/// <summary>
/// The fund's snapshot as stored (issue #7: it is loaded and rewritten by every money decision): what is left out of its JSON is what
/// reads back the same, and snapshots written before read as they did.
/// </summary>
public sealed class FundSnapshotJsonSpecs
{
    private static readonly Instant Now = Instant.FromUtc(2011, 6, 1, 9, 0);
    private static readonly Guid FundId = Guid.Parse("0195a2c0-0000-7000-8000-00000000f00d");
    private static readonly Guid CaseId = Guid.Parse("0195a2c0-0000-7000-8000-000000000042");
    private static readonly Guid General = Guid.Parse("0195a2c0-0000-7000-8000-0000000000a1");
    private static readonly Guid Xinda = Guid.Parse("0195a2c0-0000-7000-8000-0000000000b1");
    private static readonly Guid Round1 = Guid.Parse("0195a2c0-0000-7000-8000-0000000000c1");
    private static readonly JsonSerializerOptions Json = LedgerJson();

    private static JsonSerializerOptions LedgerJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        options.ConfigureLedgerJson();
        return options;
    }

    private static Guid Claim(int n) => Guid.Parse($"0195a2c0-0000-7000-8000-{n:D12}");

    private static Money Usd(decimal amount) => Money.Of(amount, "USD");

    /// <summary>Two pools (Xinda's claims are paid from its pool first, then from the general pool), Ann with two claims, Bob with one, all released.</summary>
    private static Fund Released()
    {
        var fund = Fund.Replay([
            new FundEstablished(FundId, "Fair Play Fund", "Alibaba.com", "USD", ["Alibaba.com"],
                new PolicyVersion(1, new LocalDate(2011, 2, 21), 0.70m, Usd(1_000m), null, Usd(0m), 90, 30, 60, true), "fiona", Now),
            new PoolOpened(FundId, General, PoolKind.General, "General pool", null, "fiona", Now),
            new PoolOpened(FundId, Xinda, PoolKind.Perpetrator, "Xinda forfeited fees", new PerpetratorAccount(CaseId, "Alibaba.com", "cnxinda"), "fiona", Now),
            new PoolDeposited(FundId, General, Usd(5_000m), "DEP-1", new LocalDate(2011, 5, 30), "fiona", Now),
            new PoolDeposited(FundId, Xinda, Usd(300m), "DEP-2", new LocalDate(2011, 5, 30), "fiona", Now),
            new EntitlementRecorded(FundId, Claim(1), "CL-2011-000001", CaseId, "Alibaba.com", "cnxinda", "GB", Usd(980m), "claims", Now, "buyer:ann"),
            new EntitlementRecorded(FundId, Claim(2), "CL-2011-000002", CaseId, "Alibaba.com", "other", "GB", Usd(350.50m), "claims", Now, "buyer:ann"),
            new EntitlementRecorded(FundId, Claim(3), "CL-2011-000003", CaseId, "Alibaba.com", "other", "US", Usd(700m), "claims", Now),
        ]);
        fund = Apply(fund, PrepareRoundEndpoint.Decide(fund, Round1, "fiona", Now));
        var n = 0;
        return Apply(fund, ReleaseRoundEndpoint.Decide(fund, Round1, () => Guid.Parse($"0195a2c0-0000-7000-8000-0000010d{++n:D4}"), "frank", Now));
    }

    private static Fund Apply(Fund fund, Decision decision)
    {
        decision.Refusal.ShouldBeNull();
        return decision.Events.Aggregate(fund, (state, e) => Fund.Fold(state, e)!);
    }

    private static Fund RoundTrip(string json) => JsonSerializer.Deserialize<Fund>(json, Json)!;

    private static string Written(Payout payout) => JsonSerializer.Serialize(payout, Json);

    [Fact]
    public void a_released_payout_is_stored_without_the_lines_and_amount_its_claim_lines_make_and_reads_back_with_them()
    {
        var fund = Released();
        var ann = fund.Payouts.Values.Single(p => p.BuyerKey == "buyer:ann");
        ann.Lines.Count.ShouldBe(2, "Xinda's pool and the general pool");

        var stored = JsonNode.Parse(Written(ann))!.AsObject();
        stored.ContainsKey("lines").ShouldBeFalse();
        stored.ContainsKey("amount").ShouldBeFalse();
        stored.ContainsKey("claimLines").ShouldBeTrue();
        stored.Select(p => p.Value).ShouldNotContain(v => v == null, "null members are left out");

        var read = JsonSerializer.Deserialize<Payout>(Written(ann), Json)!;
        Written(read).ShouldBe(Written(ann));
        JsonSerializer.Serialize(read.Lines, Json).ShouldBe(JsonSerializer.Serialize(ann.Lines, Json));
        JsonSerializer.Serialize(read.Amount, Json).ShouldBe(JsonSerializer.Serialize(ann.Amount, Json));
        read.PerClaim.Count.ShouldBe(ann.PerClaim.Count);
    }

    [Fact]
    public void a_whole_fund_reads_back_to_the_same_json_and_the_same_views()
    {
        var fund = Released();
        var json = JsonSerializer.Serialize(fund, Json);

        var read = RoundTrip(json);

        JsonSerializer.Serialize(read, Json).ShouldBe(json);
        JsonSerializer.Serialize(RoundView.From(read, read.Rounds[Round1]), Json).ShouldBe(JsonSerializer.Serialize(RoundView.From(fund, fund.Rounds[Round1]), Json));
        JsonSerializer.Serialize(FundView.From(read, Now), Json).ShouldBe(JsonSerializer.Serialize(FundView.From(fund, Now), Json));
        JsonNode.Parse(json)!["rounds"]![Round1.ToString()]!["allocations"]!.AsArray().Count.ShouldBe(0, "a released round's allocations are its payouts' claim lines");
        fund.AllocationsOf(fund.Rounds[Round1]).Count.ShouldBe(4, "Ann's Xinda claim from two pools, her other claim, Bob's");
    }

    [Fact]
    public void a_payout_whose_lines_are_not_exactly_what_its_claim_lines_make_keeps_them()
    {
        var ann = Released().Payouts.Values.Single(p => p.BuyerKey == "buyer:ann");
        // The same amounts written with another scale (as an older event may carry them): equal decimals, not the same JSON.
        var scaled = ann with { Lines = [.. ann.Lines.Select(l => l with { Amount = new Money(l.Amount.Amount + 0.00m, "USD") })], Amount = new Money(ann.Amount.Amount + 0.00m, "USD") };

        var stored = JsonNode.Parse(Written(scaled))!.AsObject();

        stored.ContainsKey("lines").ShouldBeTrue();
        stored.ContainsKey("amount").ShouldBeTrue();
        Written(JsonSerializer.Deserialize<Payout>(Written(scaled), Json)!).ShouldBe(Written(scaled));
    }

    [Fact]
    public void a_payout_of_one_claim_keeps_its_lines_and_amount()
    {
        var single = new Payout(Guid.Parse("0195a2c0-0000-7000-8000-0000010d9999"), "PO-1", Round1, Claim(3), "CL-2011-000003", [new PoolAmount(General, Usd(700m))],
            Usd(700m), PayoutStatus.Settled, Now, "frank", null, null, null, Now, null, null);

        var stored = JsonNode.Parse(Written(single))!.AsObject();

        stored["lines"]!.AsArray().Count.ShouldBe(1);
        stored["amount"]!["amount"]!.GetValue<decimal>().ShouldBe(700m);
        Written(JsonSerializer.Deserialize<Payout>(Written(single), Json)!).ShouldBe(Written(single));
    }

    [Fact]
    public void a_snapshot_written_before_reads_as_the_new_one()
    {
        var fund = Released();
        var json = JsonNode.Parse(JsonSerializer.Serialize(fund, Json))!.AsObject();
        // The older shape: every member written (nulls and zeros too), the lines and amount beside the claim lines, the round's allocations kept.
        foreach (var (id, payout) in json["payouts"]!.AsObject())
        {
            var p = fund.Payouts[Guid.Parse(id)];
            payout!["lines"] = JsonSerializer.SerializeToNode(p.Lines, Json);
            payout["amount"] = JsonSerializer.SerializeToNode(p.Amount, Json);
            foreach (var member in new[] { "claimId", "claimReference", "bankDetails", "reissueOf", "reissuedAs", "settledAt", "returnedAt", "returnReason", "pendingReissue" })
                payout[member] ??= null;
        }
        foreach (var (_, entitlement) in json["entitlements"]!.AsObject())
            foreach (var member in new[] { "allocated", "inTransit", "settled" })
                entitlement![member] ??= 0.00m;
        json["rounds"]![Round1.ToString()]!["allocations"] = JsonSerializer.SerializeToNode(fund.AllocationsOf(fund.Rounds[Round1]), Json);

        var read = RoundTrip(json.ToJsonString(Json));

        JsonSerializer.Serialize(RoundView.From(read, read.Rounds[Round1]), Json).ShouldBe(JsonSerializer.Serialize(RoundView.From(fund, fund.Rounds[Round1]), Json));
        JsonSerializer.Serialize(read.Payouts.Values.OrderBy(p => p.Reference, StringComparer.Ordinal), Json)
            .ShouldBe(JsonSerializer.Serialize(fund.Payouts.Values.OrderBy(p => p.Reference, StringComparer.Ordinal), Json));
        JsonSerializer.Serialize(read.Entitlements.Values.OrderBy(e => e.ClaimReference, StringComparer.Ordinal), Json)
            .ShouldBe(JsonSerializer.Serialize(fund.Entitlements.Values.OrderBy(e => e.ClaimReference, StringComparer.Ordinal), Json));
    }
}
