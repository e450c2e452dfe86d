using CompensationLedger.Cases;
using CompensationLedger.Claims;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Claims;
using Marten;
using NodaTime;

namespace CompensationLedger.IntegrationTests.Infrastructure;

/// <summary>NodaTime values in Marten LINQ (our own small replacement for Marten.NodaTime): compared as dates and timestamps, not text.</summary>
public sealed class NodaTimeQueryTests(LedgerApp app) : IntegrationTest(app)
{
    [Fact]
    public async Task local_dates_and_instants_can_be_filtered_and_ordered_in_queries()
    {
        var caseId = await App.OpenFlaggedCase();
        await App.FileClaimId(ClaimApi.Filing(caseId, "TT-1", paymentDate: "2011-01-25"));
        App.Clock.Advance(Duration.FromHours(2));
        await App.FileClaimId(ClaimApi.Filing(caseId, "TT-2", paymentDate: "2011-02-20"));

        await using var session = App.Store.QuerySession();
        var after = await session.Query<Claim>().Where(c => c.PaymentDate > new LocalDate(2011, 1, 31)).Select(c => c.PaymentReference).ToListAsync();
        after.ShouldBe(["TT-2"]);

        var since = await session.Query<Claim>().Where(c => c.FiledAt >= LedgerApp.Start + Duration.FromHours(1)).Select(c => c.PaymentReference).ToListAsync();
        since.ShouldBe(["TT-2"]);

        var ordered = await session.Query<Claim>().OrderByDescending(c => c.PaymentDate).Select(c => c.PaymentReference).ToListAsync();
        ordered.ShouldBe(["TT-2", "TT-1"]);

        var cases = await session.Query<FraudCase>().Where(c => c.ActiveFrom <= new LocalDate(2010, 1, 1) && c.ActiveTo >= new LocalDate(2011, 1, 1)).CountAsync();
        cases.ShouldBe(1);
    }
}
