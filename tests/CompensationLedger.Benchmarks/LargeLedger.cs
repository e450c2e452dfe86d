using CompensationLedger.Cases;
using CompensationLedger.Claims;
using CompensationLedger.Funds;
using CompensationLedger.Infrastructure;
using JasperFx.Events;
using Marten;
using Marten.Events;
using NodaTime;
using Weasel.Core;
using FundPolicy = CompensationLedger.Funds.PolicyTerms;

namespace CompensationLedger.Benchmarks;

/// <summary>
/// A realistic ledger of about <c>target</c> events, written straight into the service's event store
/// (same StoreOptions, same schema and serializer) instead of through HTTP: several funds, each
/// covering several fraud cases with flagged supplier accounts, a general pool and one perpetrator pool per
/// case. Then, week after week of business time, per fund: a batch of claims filed, verified and mostly
/// approved (about 1 in 12 rejected, 1 in 25 left unverified), the approvals' entitlements recorded on the
/// fund, a perpetrator pool refill, a distribution round prepared and released by two people, and the bank
/// statement of that round imported (about 2% of payouts returned by the bank, one unmatched line).
/// Every event comes out of the same Decide functions the endpoints use, so the streams are consistent.
/// <para>
/// The events are appended with Marten's bulk event import (<c>BulkInsertEventStreamAsync</c>: binary COPY into
/// <c>mt_streams</c>/<c>mt_events</c>, the store's own serializer and event type names, sequence numbers in arrival
/// order) and the documents a filing stores beside its event (fingerprints, buyer, access hash) with
/// <c>BulkInsertDocumentsAsync</c>: no inline projection runs, so the read models are empty until scenario 5 rebuilds
/// them. Appending through sessions with the inline projections on ran at ~2,500 events/s and never reached a million
/// events in its budget. Each weekly batch of a fund is one import (one transaction).
/// </para>
/// </summary>
public static class LargeLedger
{
    public const string Handler = "bench.handler";
    public const string Approver = "bench.approver";
    public const string Preparer = "bench.finance";
    public const string Releaser = "bench.finance2";

    public sealed record Shape(int Funds, int CasesPerFund, int ClaimsPerBatch);

    /// <summary>What was generated, and what the read models rebuilt from it must say (<see cref="Funds"/>: each fund's final state as the Decide functions folded it).</summary>
    public sealed record Generated(long Events, long Claims, IReadOnlyList<Guid> FundIds, IReadOnlyList<Guid> CaseIds, string LastStatementId, Guid LastStatementFund, TimeSpan Took,
        IReadOnlyDictionary<ClaimStatus, long> ClaimsByStatus, IReadOnlyList<Fund> Funds);

    private sealed class FundState(Fund fund, List<(FraudCase Case, Guid PerpetratorPool)> cases, long version)
    {
        public Fund Fund { get; set; } = fund;
        public List<(FraudCase Case, Guid PerpetratorPool)> Cases { get; } = cases;
        public int Batches { get; set; }
        /// <summary>The fund stream's version: the bulk import takes each event's version as given.</summary>
        public long Version { get; set; } = version;
    }

    /// <summary>One bulk import: stream headers for the streams it starts, events in append order, documents.</summary>
    private sealed class Import(IDocumentStore store)
    {
        // Only for BuildEvent (the store's event type mapping); nothing is saved through it.
        private readonly IDocumentSession _eventFactory = store.LightweightSession();

        public List<BulkEventStreamHeader> Streams { get; } = [];
        public List<IEvent> Events { get; } = [];
        public List<object> Documents { get; } = [];

        public void Start<TAggregate>(Guid streamId, IReadOnlyList<object> events, Instant at)
        {
            Streams.Add(new BulkEventStreamHeader { Id = streamId, Version = events.Count, AggregateType = typeof(TAggregate) });
            Append(streamId, 0, events, at);
        }

        public void Append(Guid streamId, long versionBefore, IReadOnlyList<object> events, Instant at)
        {
            foreach (var data in events)
            {
                var e = _eventFactory.Events.BuildEvent(data);
                e.Id = Guid.CreateVersion7();
                e.StreamId = streamId;
                e.Version = ++versionBefore;
                e.Timestamp = at.ToDateTimeOffset();
                Events.Add(e);
            }
        }

        public async Task WriteAsync()
        {
            await _eventFactory.DisposeAsync();
            // One block of sequence numbers of exactly this size: unused numbers would leave gaps the daemon waits on before it skips them.
            await store.BulkInsertEventStreamAsync(JasperFx.StorageConstants.DefaultTenantId, Streams, Events.ToAsyncEnumerable(), Events.Count);
            if (Documents.Count > 0) await store.BulkInsertDocumentsAsync(Documents, BulkInsertMode.InsertsOnly);
        }
    }

    public static async Task<Generated> GenerateAsync(IDocumentStore store, long target, TimeSpan budget, Shape shape, Action<string> log)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var start = Instant.FromUtc(2025, 1, 6, 9, 0);
        long events = 0;
        long claims = 0;
        var funds = new List<FundState>();
        var configured = new ClaimPolicySettings();

        // Cases and funds (a few hundred events).
        var statuses = new Dictionary<ClaimStatus, long>();
        for (var f = 0; f < shape.Funds; f++)
        {
            var import = new Import(store);
            var fundId = Guid.CreateVersion7();
            var established = EstablishFundEndpoint.Decide(fundId, new EstablishFund($"Bench Fund {f + 1}", "Alibaba.com", "USD", ["Alibaba.com", "Made-in-China.com"],
                new FundPolicy(new LocalDate(2025, 1, 1), 0.70m, Money.Of(1_000m, "USD"), Money.Of(5m, "USD"), 90, 30, 60, GeneralPoolBacksPerpetratorPools: true)),
                Preparer, start);
            var fund = Fund.Create(established);
            var fundEvents = new List<object> { established };
            void Apply(Decision decision)
            {
                foreach (var e in Accepted(decision))
                {
                    fund = Fund.Fold(fund, e)!;
                    fundEvents.Add(e);
                }
            }
            var generalPool = Guid.CreateVersion7();
            Apply(OpenPoolEndpoint.Decide(fund, generalPool, new OpenPool(PoolKind.General, "General pool (sponsor)"), null, Preparer, start));
            Apply(DepositToPoolEndpoint.Decide(fund, generalPool, new DepositToPool(Money.Of(500_000_000m, "USD"), $"SPONSOR-{f}-0001", new LocalDate(2025, 1, 6)), Preparer, start));

            var cases = new List<(FraudCase, Guid)>();
            for (var c = 0; c < shape.CasesPerFund; c++)
            {
                var caseId = Guid.CreateVersion7();
                var opened = OpenFraudCaseEndpoint.Decide(caseId, new OpenFraudCase($"Bench ring {f + 1}.{c + 1}", ["Alibaba.com", "Made-in-China.com"],
                    new LocalDate(2024, 1, 1), new LocalDate(2026, 12, 31), Money.Of(50_000_000m, "USD")), Handler, start);
                var fraudCase = FraudCase.Create(opened);
                var flags = FlagSupplierAccountsEndpoint.Decide(fraudCase, new FlagSupplierAccounts(Enumerable.Range(0, 8)
                    .Select(s => new SupplierAccountToFlag(s < 6 ? "Alibaba.com" : "Made-in-China.com", $"cnb{f}x{c}x{s}", $"Bench Supplier {f}.{c}.{s} Co., Ltd.")).ToArray()),
                    Handler, start);
                import.Start<FraudCase>(caseId, [opened, .. Accepted(flags)], start);
                events += 1 + flags.Events.Count;
                foreach (var e in flags.Events) fraudCase = Fold(fraudCase, e);

                var pool = Guid.CreateVersion7();
                var supplier = fraudCase.SupplierAccounts[0];
                Apply(OpenPoolEndpoint.Decide(fund, pool, new OpenPool(PoolKind.Perpetrator, $"Forfeited fees: {supplier.DisplayName}", caseId, supplier.Platform, supplier.AccountId),
                    fraudCase, Preparer, start));
                Apply(CoverCaseEndpoint.Decide(fund, fraudCase, null, caseId, Preparer, start));
                cases.Add((fraudCase, pool));
            }
            import.Start<Fund>(fundId, fundEvents, start);
            events += fundEvents.Count;
            await import.WriteAsync();
            funds.Add(new FundState(fund, cases, fundEvents.Count));
        }

        // One writer per fund, concurrently (a fund's batches depend on its own state only), until the target or the budget.
        var lastStatement = "";
        var lastStatementFund = Guid.Empty;
        var batches = 0;
        await Task.WhenAll(funds.Select(state => Task.Run(async () =>
        {
        while (Interlocked.Read(ref events) < target && clock.Elapsed < budget)
        {
            var batch = Interlocked.Increment(ref batches);
            var at = start + Duration.FromDays(7 * (state.Batches + 1));
            var first = Interlocked.Add(ref claims, shape.ClaimsPerBatch) - shape.ClaimsPerBatch;
            var fund = state.Fund;
            var fundEvents = new List<object>();
            void Apply(Decision decision)
            {
                foreach (var e in Accepted(decision))
                {
                    fund = Fund.Fold(fund, e)!;
                    fundEvents.Add(e);
                }
            }

            var import = new Import(store);
            var numbers = await ClaimReferences.NextNumbersAsync(store, shape.ClaimsPerBatch, CancellationToken.None);
            var terms = ClaimPolicies.For(fund, configured, at);
            for (var i = 0; i < shape.ClaimsPerBatch; i++)
            {
                var n = (int)(first + i);
                var (fraudCase, _) = state.Cases[n % state.Cases.Count];
                var supplier = fraudCase.SupplierAccounts[n % fraudCase.SupplierAccounts.Count];
                var paid = at.InUtc().Date.PlusDays(-(5 + n % 60));
                var command = new FileClaim(fraudCase.Id, new ClaimantBuyer($"Buyer {n}", Countries[n % Countries.Length], $"buyer{n}@example.com"),
                    supplier.Platform, supplier.AccountId, $"PO-{n}", paid.PlusDays(-3), paid, Money.Of(200m + n % 2_300 + (n % 100) / 100m, "USD"),
                    $"TT-LARGE-{n}", "Consumer electronics");
                var claimId = Guid.CreateVersion7();
                var reference = ClaimReferences.Format(at.InUtc().Year, numbers[i]);
                var filed = (ClaimFiled)Accepted(FileClaimEndpoint.Decide(claimId, reference, command, fraudCase, terms, null, Handler, at))[0];
                import.Documents.AddRange(FileClaimEndpoint.Documents(filed, command, AccessCodes.New()));
                var claim = Claim.Create(filed);
                var claimEvents = new List<object>();
                void Then(Decision decision)
                {
                    foreach (var e in Accepted(decision))
                    {
                        claimEvents.Add(e);
                        claim = Claim.Applying(claim, e);
                    }
                }
                if (n % 25 != 7)
                {
                    Then(VerifyClaimEndpoint.Decide(claim, fraudCase, FileClaimEndpoint.Fingerprints(command, claimId, reference), Handler, at + Duration.FromHours(2)));
                    if (n % 12 == 5)
                        Then(RejectClaimEndpoint.Decide(claim, new RejectClaim(RejectionReason.InsufficientEvidence, "No proof of payment."), Approver, at + Duration.FromHours(4)));
                    else if (claim.Status is ClaimStatus.VerifiedEligible or ClaimStatus.NeedsReview)
                    {
                        Then(ApproveClaimEndpoint.Decide(claim, new ApproveClaim(), null, Approver, at + Duration.FromHours(4)));
                        Apply(RecordEntitlementHandler.Decide(fund, CoverCaseEndpoint.EntitlementFor(fund.Id, claim, Approver)!, at + Duration.FromHours(4)));
                    }
                }
                import.Start<Claim>(claimId, [filed, .. claimEvents], at);
                lock (statuses) statuses[claim.Status] = statuses.GetValueOrDefault(claim.Status) + 1;
                Interlocked.Add(ref events, 1 + claimEvents.Count);
            }

            // Finance: refill one perpetrator pool, prepare and release a round, import the bank's statement of it.
            var refill = state.Cases[state.Batches % state.Cases.Count].PerpetratorPool;
            Apply(DepositToPoolEndpoint.Decide(fund, refill, new DepositToPool(Money.Of(shape.ClaimsPerBatch * 150m, "USD"), $"FORFEIT-{fund.Id:N}-{state.Batches}",
                at.InUtc().Date), Preparer, at + Duration.FromHours(5)));
            var roundId = Guid.CreateVersion7();
            Apply(PrepareRoundEndpoint.Decide(fund, roundId, Preparer, at + Duration.FromDays(1)));
            Apply(ReleaseRoundEndpoint.Decide(fund, roundId, Guid.CreateVersion7, Releaser, at + Duration.FromDays(2)));
            var payouts = fund.Rounds[roundId].PayoutIds.Select(id => fund.Payouts[id]).ToList();
            var valueDate = (at + Duration.FromDays(4)).InUtc().Date;
            var lines = payouts.Select((p, k) => new StatementLine(k + 2, valueDate, p.Reference, p.Amount, k % 50 == 17 ? StatementDirection.Credit : StatementDirection.Debit))
                .Append(new StatementLine(payouts.Count + 2, valueDate, $"BANK-FEE-{batch}", Money.Of(25m, "USD"), StatementDirection.Debit))
                .ToList();
            Apply(ImportBankStatementEndpoint.Decide(fund, lines, Preparer, at + Duration.FromDays(4)));
            var statementId = ImportBankStatementEndpoint.StatementId(lines);

            import.Append(fund.Id, state.Version, fundEvents, at);
            await import.WriteAsync();
            state.Version += fundEvents.Count;
            Interlocked.Add(ref events, fundEvents.Count);
            lock (funds) (lastStatement, lastStatementFund) = (statementId, fund.Id);
            state.Fund = fund;
            state.Batches++;
            if (batch % 10 == 0) log($"bench: generated {Interlocked.Read(ref events):N0} events, {claims:N0} claims ({clock.Elapsed.TotalSeconds:0} s)");
        }
        })));

        // The fund streams' headers were written with their first events; the import took later versions as given.
        await using (var session = store.LightweightSession())
        {
            foreach (var state in funds)
                session.QueueSqlCommand($"update {store.Options.Events.DatabaseSchemaName}.mt_streams set version = ? where id = ?", state.Version, state.Fund.Id);
            await session.SaveChangesAsync();
        }
        return new Generated(events, claims, funds.Select(f => f.Fund.Id).ToArray(), funds.SelectMany(f => f.Cases.Select(c => c.Case.Id)).ToArray(),
            lastStatement, lastStatementFund, clock.Elapsed, statuses, funds.Select(f => f.Fund).ToArray());
    }

    private static readonly string[] Countries = ["US", "GB", "DE", "NG", "BR", "IN", "FR", "JP", "AU", "CA"];

    private static FraudCase Fold(FraudCase fraudCase, object e) => e switch
    {
        SupplierAccountsFlagged x => fraudCase.Apply(x),
        BankAccountsFlagged x => fraudCase.Apply(x),
        _ => fraudCase,
    };

    private static IReadOnlyList<object> Accepted(Decision decision) =>
        decision.Refusal is { } refusal ? throw new InvalidOperationException($"The generated ledger breaks a rule: {refusal.Code}: {refusal.Detail}") : decision.Events;
}
