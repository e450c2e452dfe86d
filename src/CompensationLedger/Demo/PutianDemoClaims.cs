using CompensationLedger.Cases;
using CompensationLedger.Claims;
using CompensationLedger.ExchangeRates;
using CompensationLedger.Infrastructure;
using Marten;
using NodaTime;

namespace CompensationLedger.Demo;

/// <summary>
/// A handful of Putian buyers' claims in the states a claims team sees, filed in spring 2011 (business
/// time) and taken through the same decisions as the API, with the EUR and JPY rates finance recorded
/// for their payment dates. Access codes are deterministic (<see cref="AccessCode"/>) so the demo's
/// status lookup can be tried; real codes are random.
/// </summary>
public static class PutianDemoClaims
{
    public const string Handler = "demo.handler";
    public const string Approver = "demo.approver";
    public const string SecondApprover = "demo.approver2";
    public const string Finance = "demo.finance";

    public static Guid ClaimId(int n) => Guid.Parse($"0195a2c0-2011-7000-8000-0000000c{n:D4}");

    /// <summary>The demo access code of claim <paramref name="n"/>; the demo is not production.</summary>
    public static string AccessCode(int n) => $"DEMO-PUTI-ANCL-AIMS-CODE-{n:D4}";

    private static readonly Instant Spring2011 = Instant.FromUtc(2011, 3, 14, 9, 0);

    private static string Supplier(int i) => PutianDemo.SupplierAccounts()[i - 1].AccountId;

    private static string Card(int i) => PutianDemo.BankCards()[i - 1].AccountNumber;

    /// <param name="SameBuyerAs">The demo claim whose buyer filed this one too (same name, country and e-mail), or 0.</param>
    private sealed record DemoClaim(int N, string Buyer, string Country, string Platform, string Supplier, string? Card, decimal Amount, string Currency,
        LocalDate Paid, string Goods, string Story, int SameBuyerAs = 0)
    {
        public string Email => $"buyer{(SameBuyerAs == 0 ? N : SameBuyerAs)}@example.com";
    }

    private static readonly DemoClaim[] Claims =
    [
        new(1, "Daniel Okafor", "NG", "Alibaba.com", Supplier(1), Card(1), 1400.00m, "USD", new(2011, 1, 18), "50 laptops", "approved: 70% of $1,400"),
        new(2, "Maria Schneider", "DE", "Alibaba.com", Supplier(2), Card(2), 1850.00m, "EUR", new(2011, 1, 24), "120 mobile phones", "approved in EUR at finance's rate"),
        new(3, "Kenji Watanabe", "JP", "Alibaba.com", Supplier(3), null, 150_000m, "JPY", new(2011, 2, 2), "LCD displays", "approved in JPY, capped at $1,000"),
        new(4, "Priya Raman", "IN", "ECPLAZA.net", Supplier(71), Card(4), 600.00m, "USD", new(2011, 2, 7), "digital cameras", "ineligible platform, rejected"),
        new(5, "Tom Hughes", "GB", "Alibaba.com", Supplier(5), "GB29NWBK60161331926819", 900.00m, "USD", new(2011, 2, 9), "tablets", "needs review"),
        new(6, "Ana Costa", "BR", "Alibaba.com", Supplier(6), Card(6), 2000.00m, "USD", new(2011, 2, 14), "optoelectronics", "rejected, appealed, granted"),
        new(7, "Ahmed Hassan", "EG", "Made-in-China.com", Supplier(72), null, 450.00m, "USD", new(2011, 2, 16), "laptops", "lapsed: no answer to a request"),
        new(8, "Lucy Chen", "US", "Alibaba.com", Supplier(8), Card(8), 300.00m, "USD", new(2011, 2, 21), "phones", "withdrawn"),
        new(9, "Olivier Martin", "FR", "EC21.com", Supplier(73), null, 0.01m, "USD", new(2011, 2, 25), "test order", "filed, not verified yet"),
        new(10, "Daniel Okafor", "NG", "Alibaba.com", Supplier(1), Card(1), 500.00m, "USD", new(2011, 2, 28), "20 tablets",
            "approved: the buyer of claim 1 again, so one payout pays both", SameBuyerAs: 1),
    ];

    /// <summary>Seeds the demo claims unless they are there; returns false when they were.</summary>
    public static async Task<bool> SeedAsync(IDocumentStore store, FraudCase fraudCase, ClaimPolicySettings policy, CancellationToken ct)
    {
        await using var session = store.LightweightSession();
        if (await session.LoadAsync<Claim>(ClaimId(1), ct) is not null) return false;

        var terms = policy.Terms();
        Record(session, RecordExchangeRateEndpoint.Decide(new RecordExchangeRate(new LocalDate(2011, 1, 24), "EUR", "USD", 1.3652m), null, Finance, Spring2011));
        Record(session, RecordExchangeRateEndpoint.Decide(new RecordExchangeRate(new LocalDate(2011, 2, 2), "JPY", "USD", 0.012201m), null, Finance, Spring2011));
        var rates = new Dictionary<string, ExchangeRate>
        {
            ["EUR"] = ExchangeRate.From(new ExchangeRateRecorded(Guid.Empty, "EUR", "USD", new LocalDate(2011, 1, 24), 1.3652m, Finance, Spring2011)),
            ["JPY"] = ExchangeRate.From(new ExchangeRateRecorded(Guid.Empty, "JPY", "USD", new LocalDate(2011, 2, 2), 0.012201m, Finance, Spring2011)),
        };

        foreach (var demo in Claims)
        {
            var at = Spring2011 + Duration.FromDays(demo.N);
            var command = new FileClaim(fraudCase.Id, new ClaimantBuyer(demo.Buyer, demo.Country, demo.Email),
                demo.Platform, demo.Supplier, $"PO-2011-{demo.N:D3}", demo.Paid.PlusDays(-3), demo.Paid, Money.Of(demo.Amount, demo.Currency),
                $"DEMO-TT-{demo.N:D4}", demo.Goods, demo.Card);
            var reference = ClaimReferences.Format(2011, await ClaimReferences.NextNumberAsync(store, ct));
            var filed = (ClaimFiled)Accepted(FileClaimEndpoint.Decide(ClaimId(demo.N), reference, command, fraudCase, terms, null, Handler, at))[0];
            FileClaimEndpoint.Record(session, filed, command, AccessCode(demo.N));

            var claim = Claim.Create(filed);
            var later = new List<object>();
            void Then(Decision decision)
            {
                foreach (var e in Accepted(decision))
                {
                    later.Add(e);
                    claim = Claim.Applying(claim, e);
                }
            }

            if (demo.N == 9) { session.Events.Append(claim.Id, later.ToArray()); continue; }
            if (demo.N == 8)
            {
                Then(WithdrawClaimEndpoint.Decide(claim, new WithdrawClaim("The buyer's bank recovered the payment."), Handler, at + Duration.FromDays(2)));
                session.Events.Append(claim.Id, later.ToArray());
                continue;
            }

            IReadOnlyList<ClaimFingerprint> fingerprints = FileClaimEndpoint.Fingerprints(command, claim.Id, reference);
            Then(VerifyClaimEndpoint.Decide(claim, fraudCase, fingerprints, Handler, at + Duration.FromHours(4)));
            var decideAt = at + Duration.FromDays(3);
            switch (demo.N)
            {
                case 1 or 2 or 3 or 10:
                    Then(ApproveClaimEndpoint.Decide(claim, new ApproveClaim(demo.Story), rates.GetValueOrDefault(demo.Currency), Approver, decideAt));
                    break;
                case 4:
                    Then(RejectClaimEndpoint.Decide(claim, new RejectClaim(RejectionReason.PlatformNotEligible), Approver, decideAt));
                    break;
                case 6:
                    Then(RejectClaimEndpoint.Decide(claim, new RejectClaim(RejectionReason.InsufficientEvidence, "No order confirmation."), Approver, decideAt));
                    Then(AppealClaimEndpoint.Decide(claim, new AppealClaim("The order confirmation was found and is attached."), Handler, decideAt + Duration.FromDays(5)));
                    Then(DecideAppealEndpoint.Decide(claim, new DecideAppeal(AppealOutcome.Grant), null, SecondApprover, decideAt + Duration.FromDays(9)));
                    break;
                case 7:
                    Then(RequestClaimInformationEndpoint.Decide(claim, new RequestClaimInformation(["The bank's transfer confirmation"]), Handler, decideAt));
                    var deadline = claim.OpenRequest!.Deadline;
                    Then(LapseClaimHandler.Decide(claim, new ClaimInformationDeadlineReached(claim.Id, 1, deadline), deadline));
                    break;
            }
            session.Events.Append(claim.Id, later.ToArray());
        }

        await session.SaveChangesAsync(ct);
        return true;
    }

    private static void Record(IDocumentSession session, Decision decision)
    {
        var recorded = (ExchangeRateRecorded)Accepted(decision)[0];
        session.Events.Append(recorded.PairId, recorded);
    }

    private static IReadOnlyList<object> Accepted(Decision decision) =>
        decision.Refusal is { } refusal ? throw new InvalidOperationException($"The demo claims break a rule: {refusal.Detail}") : decision.Events;
}
