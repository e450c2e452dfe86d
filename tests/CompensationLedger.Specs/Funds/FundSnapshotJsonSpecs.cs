using System.Collections.Immutable;
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
    private static Fund Released() => Fund.Replay(Events());

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
    public void a_fund_is_stored_without_its_entitlements_and_payouts_and_reads_back_to_the_same_json_and_with_their_rows_the_same_views()
    {
        var fund = Released();
        var json = JsonSerializer.Serialize(fund, Json);

        var read = RoundTrip(json);

        JsonNode.Parse(json)!.AsObject().ContainsKey("payouts").ShouldBeFalse("each payout has its row (report_payouts)");
        JsonNode.Parse(json)!.AsObject().ContainsKey("entitlements").ShouldBeFalse("each entitlement has its row (fund_entitlements)");
        read.Payouts.ShouldBeEmpty();
        read.Entitlements.ShouldBeEmpty();
        read.Complete.ShouldBeFalse("a snapshot holds only what decisions load into it");
        fund.Complete.ShouldBeTrue();
        JsonSerializer.Serialize(read, Json).ShouldBe(json);
        // The entitlements and payouts as their rows give them back (EntitlementRows, PayoutViews, FundRows).
        JsonNode.Parse(json)!["rounds"]![Round1.ToString()]!.AsObject().ContainsKey("payoutIds").ShouldBeFalse("the round's payouts are found by their rows' round");
        read.Rounds[Round1].PayoutIds.ShouldBeEmpty();
        var withRows = read with { Entitlements = fund.Entitlements, Payouts = fund.Payouts,
            Rounds = read.Rounds.SetItem(Round1, read.Rounds[Round1] with { PayoutIds = fund.Rounds[Round1].PayoutIds }) };
        JsonSerializer.Serialize(RoundView.From(withRows, withRows.Rounds[Round1]), Json).ShouldBe(JsonSerializer.Serialize(RoundView.From(fund, fund.Rounds[Round1]), Json));
        JsonSerializer.Serialize(FundView.From(withRows, Now), Json).ShouldBe(JsonSerializer.Serialize(FundView.From(fund, Now), Json));
        JsonNode.Parse(json)!["rounds"]![Round1.ToString()]!["allocations"]!.AsArray().Count.ShouldBe(0, "a released round's allocations are its payouts' claim lines");
        fund.AllocationsOf(fund.Rounds[Round1]).Count.ShouldBe(4, "Ann's Xinda claim from two pools, her other claim, Bob's");
        // What the fund view shows of the released round is kept with it, so the view need not add up its payouts.
        read.Rounds[Round1].ReleasedAllocations.ShouldBe(4);
        read.Rounds[Round1].ReleasedTotal.ShouldBe(fund.AllocationsOf(fund.Rounds[Round1]).Sum(a => a.Amount.Amount));
        read.Rounds[Round1].ReleasedTotal.ShouldBe(980m + 350.50m + 700m);
        var allocations = fund.AllocationsOf(fund.Rounds[Round1]);
        JsonSerializer.Serialize(RoundSummary.From(read, read.Rounds[Round1]), Json)
            .ShouldBe(JsonSerializer.Serialize(RoundSummary.From(fund, fund.Rounds[Round1], allocations.Sum(a => a.Amount.Amount), allocations.Count), Json));
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
    public void a_snapshot_written_before_reads_as_the_new_one_its_entitlements_and_payouts_left_unread()
    {
        var fund = Released();
        var json = JsonNode.Parse(JsonSerializer.Serialize(fund, Json))!.AsObject();
        // The older shape: the entitlements kept (their zeros written), the payouts kept (every member written, the lines and amount
        // beside the claim lines), the round's allocations kept.
        var payouts = new JsonObject();
        foreach (var p in fund.Payouts.Values)
        {
            var payout = JsonSerializer.SerializeToNode(p, Json)!;
            payout["lines"] = JsonSerializer.SerializeToNode(p.Lines, Json);
            payout["amount"] = JsonSerializer.SerializeToNode(p.Amount, Json);
            foreach (var member in new[] { "claimId", "claimReference", "bankDetails", "reissueOf", "reissuedAs", "settledAt", "returnedAt", "returnReason", "pendingReissue" })
                payout[member] ??= null;
            payouts[p.Id.ToString()] = payout;
        }
        json["payouts"] = payouts;
        var entitlements = new JsonObject();
        foreach (var e in fund.Entitlements.Values)
        {
            var entitlement = JsonSerializer.SerializeToNode(e, Json)!;
            foreach (var member in new[] { "allocated", "inTransit", "settled" }) entitlement[member] ??= 0.00m;
            entitlements[e.ClaimId.ToString()] = entitlement;
        }
        json["entitlements"] = entitlements;
        json["rounds"]![Round1.ToString()]!["allocations"] = JsonSerializer.SerializeToNode(fund.AllocationsOf(fund.Rounds[Round1]), Json);
        json["rounds"]![Round1.ToString()]!["payoutIds"] = JsonSerializer.SerializeToNode(fund.Rounds[Round1].PayoutIds, Json);

        var read = RoundTrip(json.ToJsonString(Json));

        read.Payouts.ShouldBeEmpty("the rows hold them; the next write of the snapshot drops them");
        read.Entitlements.ShouldBeEmpty("the rows hold them; the next write of the snapshot drops them");
        read.Rounds[Round1].PayoutIds.ShouldBeEmpty("the rows hold them, by their round");
        JsonSerializer.Serialize(RoundView.From(read, read.Rounds[Round1] with { PayoutIds = fund.Rounds[Round1].PayoutIds }, id => fund.Payouts[id]), Json).ShouldBe(JsonSerializer.Serialize(RoundView.From(fund, fund.Rounds[Round1]), Json));
        JsonSerializer.Serialize(read, Json).ShouldBe(JsonSerializer.Serialize(fund with { Payouts = read.Payouts, Rounds = read.Rounds }, Json));
    }

    [Fact]
    public void a_fund_read_from_its_snapshot_folds_payout_events_onto_its_books_and_onto_the_payouts_a_decision_loaded()
    {
        var fund = Released();
        var ann = fund.Payouts.Values.Single(p => p.BuyerKey == "buyer:ann");
        var bob = fund.Payouts.Values.Single(p => p.BuyerKey is null);
        object[] events =
        [
            new PayoutSettled(FundId, bob.Id, null, bob.Lines, "BANK-1", "fiona", Now, bob.PerClaim),
            new PayoutReturned(FundId, ann.Id, null, ann.Lines, "Account closed", "fiona", Now, ann.PerClaim),
        ];
        var complete = Fund.Fold(fund, events)!;
        // A decision on Ann's payout loads it and her claims' entitlements (Bob's are not loaded either).
        var annClaims = ann.PerClaim.Select(l => l.ClaimId).ToHashSet();
        var loaded = RoundTrip(JsonSerializer.Serialize(fund, Json)) with
        {
            Payouts = ImmutableDictionary<Guid, Payout>.Empty.Add(ann.Id, ann),
            Entitlements = fund.Entitlements.Where(e => annClaims.Contains(e.Key)).ToImmutableDictionary(),
        };

        var folded = Fund.Fold(loaded, events)!;

        folded.Pools.ShouldBe(complete.Pools);
        folded.Entitlements.ShouldBe(complete.Entitlements.Where(e => annClaims.Contains(e.Key)).ToImmutableDictionary(), "only what was loaded, changed as the events say");
        folded.Version.ShouldBe(complete.Version);
        folded.Payouts.Keys.ShouldBe([ann.Id], "Bob's payout was not loaded: only the books record its settlement");
        Written(folded.Payouts[ann.Id]).ShouldBe(Written(complete.Payouts[ann.Id]));
        Should.Throw<KeyNotFoundException>(() => Fund.Fold(fund with { Payouts = fund.Payouts.Remove(bob.Id) }, events[0]),
            "a fund folded from its events holds every payout: one missing is a broken stream");
    }

    [Fact]
    public void the_rebuild_folds_the_books_a_chunk_at_a_time_without_the_payouts()
    {
        var fund = Released();
        var bob = fund.Payouts.Values.Single(p => p.BuyerKey is null);
        object[] history =
        [
            .. Events(),
            new PayoutReturned(FundId, bob.Id, null, bob.Lines, "Account closed", "fiona", Now, bob.PerClaim),
            new PayoutReissuePrepared(FundId, bob.Id, new BankDetails("Bob", "GB00TEST"), "fiona", Now),
            new PayoutReissued(FundId, bob.Id, Guid.Parse("0195a2c0-0000-7000-8000-0000010dffff"), bob.Reference + "-R1", null, null, bob.Lines, bob.Amount,
                new BankDetails("Bob", "GB00TEST"), "frank", Now, bob.PerClaim, null, "fiona"),
        ];
        var whole = Fund.Fold(null, history)!;

        var chunked = history.Chunk(3).Aggregate((Fund?)null, (f, chunk) => Fund.FoldMany(f, chunk, (f?.Version ?? 0) + chunk.Length))!;

        chunked.Payouts.ShouldBeEmpty();
        chunked.Version.ShouldBe(whole.Version);
        JsonSerializer.Serialize(chunked, Json).ShouldBe(JsonSerializer.Serialize(whole, Json), "the snapshot the rebuild writes is the one the events make");

        // The rebuild leaves out the events the snapshot stores nothing of (their versions still count): the same snapshot.
        var kept = history.Select((e, i) => (Event: e, Version: i + 1L)).Where(x => !Fund.NotInSnapshot.Contains(x.Event.GetType())).ToArray();
        kept.Length.ShouldBeLessThan(history.Length, "entitlements recorded, a reissue prepared");
        var without = kept.Chunk(3).Aggregate((Fund?)null, (f, chunk) => Fund.FoldMany(f, [.. chunk.Select(x => x.Event)], chunk[^1].Version))!;
        JsonSerializer.Serialize(without, Json).ShouldBe(JsonSerializer.Serialize(whole, Json), "without the events it stores nothing of");
    }

    /// <summary>The events of <see cref="Released"/>, in order.</summary>
    private static IReadOnlyList<object> Events()
    {
        var events = new List<object>
        {
            new FundEstablished(FundId, "Fair Play Fund", "Alibaba.com", "USD", ["Alibaba.com"],
                new PolicyVersion(1, new LocalDate(2011, 2, 21), 0.70m, Usd(1_000m), null, Usd(0m), 90, 30, 60, true), "fiona", Now),
            new PoolOpened(FundId, General, PoolKind.General, "General pool", null, "fiona", Now),
            new PoolOpened(FundId, Xinda, PoolKind.Perpetrator, "Xinda forfeited fees", new PerpetratorAccount(CaseId, "Alibaba.com", "cnxinda"), "fiona", Now),
            new PoolDeposited(FundId, General, Usd(5_000m), "DEP-1", new LocalDate(2011, 5, 30), "fiona", Now),
            new PoolDeposited(FundId, Xinda, Usd(300m), "DEP-2", new LocalDate(2011, 5, 30), "fiona", Now),
            new EntitlementRecorded(FundId, Claim(1), "CL-2011-000001", CaseId, "Alibaba.com", "cnxinda", "GB", Usd(980m), "claims", Now, "buyer:ann"),
            new EntitlementRecorded(FundId, Claim(2), "CL-2011-000002", CaseId, "Alibaba.com", "other", "GB", Usd(350.50m), "claims", Now, "buyer:ann"),
            new EntitlementRecorded(FundId, Claim(3), "CL-2011-000003", CaseId, "Alibaba.com", "other", "US", Usd(700m), "claims", Now),
        };
        var fund = Fund.Replay(events);
        var prepared = PrepareRoundEndpoint.Decide(fund, Round1, "fiona", Now).Events;
        events.AddRange(prepared);
        fund = Fund.Fold(fund, prepared)!;
        var n = 0;
        events.AddRange(ReleaseRoundEndpoint.Decide(fund, Round1, () => Guid.Parse($"0195a2c0-0000-7000-8000-0000010d{++n:D4}"), "frank", Now).Events);
        return events;
    }
}
