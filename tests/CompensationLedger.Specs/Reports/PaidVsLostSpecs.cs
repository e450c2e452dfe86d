using CompensationLedger.Claims;
using CompensationLedger.Reports;
using NodaTime;
using static CompensationLedger.Specs.Claims.ClaimGiven;

namespace CompensationLedger.Specs.Reports;

/// <summary>Given claim events, the totals the fold gives, grouped, as of an instant, and written as CSV.</summary>
public sealed class PaidVsLostSpecs
{
    private static readonly Instant T0 = Instant.FromUtc(2011, 4, 11, 8, 0);
    private static readonly Guid Usd1400 = Guid.Parse("00000000-0000-0000-0000-0000000000a1");
    private static readonly Guid Eur1000 = Guid.Parse("00000000-0000-0000-0000-0000000000a2");
    private static readonly Guid Eur500 = Guid.Parse("00000000-0000-0000-0000-0000000000a3");
    private static readonly Guid Usd2000 = Guid.Parse("00000000-0000-0000-0000-0000000000a4");

    private static ClaimFiled Filed(Guid id, decimal amount, string currency, string platform, string supplier, string country, LocalDate paid, Instant at) =>
        CompensationLedger.Specs.Claims.ClaimGiven.Filed(at: at) with
        {
            ClaimId = id, AmountPaid = Money.Of(amount, currency), Platform = platform, SupplierAccount = supplier, BuyerCountry = country, PaymentDate = paid,
        };

    private static ClaimVerified Eligible(Guid id, Instant at) => new(id, VerificationResult.VerifiedEligible, [], [], Verifier, at);

    private static ClaimApproved Approved(Guid id, Money loss, Instant at, decimal? rate = null)
    {
        var computation = Entitlements.Compute(loss, new LocalDate(2011, 1, 25), Policy, rate is { } r ? Rate(loss.Currency, r) : null, out _)!;
        return new ClaimApproved(id, computation, null, Approver, at);
    }

    /// <summary>
    /// Four claims against the Putian case, decided over four hours:
    /// USD 1,400.00 (Alibaba.com, US, Jan) approved: 980.00; EUR 1,000.00 (Made-in-China.com, DE, Feb) approved at 1.40: loss 1,400.00 USD, 980.00;
    /// EUR 500.00 (Made-in-China.com, FR, Feb) only filed; USD 2,000.00 (Alibaba.com, US, Feb) verified eligible, then rejected.
    /// </summary>
    private static IReadOnlyList<object> Events() =>
    [
        Filed(Usd1400, 1400.00m, "USD", "Alibaba.com", "cnxinda", "US", new LocalDate(2011, 1, 25), T0),
        Filed(Eur1000, 1000.00m, "EUR", "Made-in-China.com", "mic-77", "DE", new LocalDate(2011, 2, 10), T0),
        Filed(Eur500, 500.00m, "EUR", "Made-in-China.com", "mic-77", "FR", new LocalDate(2011, 2, 14), T0),
        Filed(Usd2000, 2000.00m, "USD", "Alibaba.com", "cnxinda", "US", new LocalDate(2011, 2, 1), T0),
        Eligible(Usd1400, T0 + Duration.FromHours(1)),
        Eligible(Eur1000, T0 + Duration.FromHours(1)),
        Eligible(Usd2000, T0 + Duration.FromHours(1)),
        Approved(Usd1400, Money.Of(1400.00m, "USD"), T0 + Duration.FromHours(2)),
        new ClaimRejected(Usd2000, RejectionReason.InsufficientEvidence, null, Approver, T0 + Duration.FromHours(2)),
        Approved(Eur1000, Money.Of(1000.00m, "EUR"), T0 + Duration.FromHours(3), rate: 1.40m),
    ];

    private static ClaimTotals Total(Instant? asOf = null) => ClaimTotals.Sum(ClaimTotalsLine.Fold(Events(), asOf), "USD");

    [Fact]
    public void losses_count_in_the_fund_currency_and_a_euro_loss_at_the_rate_its_approval_recorded()
    {
        var total = Total();

        total.Claims.ShouldBe(4);
        total.Claimed.ShouldBe(Money.Of(4800.00m, "USD")); // 1,400 + 1,000 x 1.40 + 2,000
        total.ClaimedUnconverted.ShouldBe([Money.Of(500.00m, "EUR")]);
        total.Verified.ShouldBe(Money.Of(4800.00m, "USD")); // the rejected claim's last verification found it eligible
        total.VerifiedUnconverted.ShouldBeEmpty();
        total.Entitled.ShouldBe(Money.Of(1960.00m, "USD"));
        total.Paid.ShouldBe(Money.Zero("USD"));
        total.Returned.ShouldBe(Money.Zero("USD"));
        total.Outstanding.ShouldBe(Money.Of(1960.00m, "USD"));
        total.PaidToLost.ShouldBe(0m);
        total.ByStatus["approved"].ShouldBe(2);
        total.ByStatus["rejected"].ShouldBe(1);
        total.ByStatus["filed"].ShouldBe(1);
        total.ByStatus.Keys.First().ShouldBe("filed");
        total.ByStatus.Values.Sum().ShouldBe(4);
    }

    [Fact]
    public void as_of_before_the_euro_approval_the_euro_loss_is_still_counted_in_euros()
    {
        var total = Total(T0 + Duration.FromHours(2) + Duration.FromMinutes(30));

        total.Claimed.ShouldBe(Money.Of(3400.00m, "USD"));
        total.ClaimedUnconverted.ShouldBe([Money.Of(1500.00m, "EUR")]);
        total.Verified.ShouldBe(Money.Of(3400.00m, "USD"));
        total.VerifiedUnconverted.ShouldBe([Money.Of(1000.00m, "EUR")]);
        total.Entitled.ShouldBe(Money.Of(980.00m, "USD"));
        total.ByStatus["verified-eligible"].ShouldBe(1);
    }

    [Theory]
    [InlineData("USD", "0.00")]
    [InlineData("JPY", "0")]
    [InlineData("BHD", "0.000")]
    public void totals_are_stated_with_the_currency_s_decimal_places_even_when_zero(string currency, string expected)
    {
        var total = ClaimTotals.Sum([], currency);

        total.Paid.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture).ShouldBe(expected);
        total.Outstanding.Amount.ToString(System.Globalization.CultureInfo.InvariantCulture).ShouldBe(expected);
    }

    [Fact]
    public void as_of_an_instant_before_any_filing_there_is_nothing()
    {
        var total = Total(T0 - Duration.FromSeconds(1));

        total.Claims.ShouldBe(0);
        total.Claimed.ShouldBe(Money.Zero("USD"));
        total.PaidToLost.ShouldBeNull();
    }

    [Fact]
    public void an_event_at_exactly_the_as_of_instant_counts()
    {
        Total(T0 + Duration.FromHours(3)).Entitled.ShouldBe(Money.Of(1960.00m, "USD"));
        Total(T0 + Duration.FromHours(3) - Duration.FromTicks(1)).Entitled.ShouldBe(Money.Of(980.00m, "USD"));
    }

    [Theory]
    [InlineData(PaidVsLostGrouping.Platform, new[] { "Alibaba.com", "Made-in-China.com" })]
    [InlineData(PaidVsLostGrouping.Supplier, new[] { "Alibaba.com/cnxinda", "Made-in-China.com/mic-77" })]
    [InlineData(PaidVsLostGrouping.Country, new[] { "DE", "FR", "US" })]
    [InlineData(PaidVsLostGrouping.Month, new[] { "2011-01", "2011-02" })]
    public void groups_are_keyed_and_ordered_and_add_up_to_the_total(PaidVsLostGrouping grouping, string[] keys)
    {
        var report = PaidVsLost.Build(ClaimTotalsLine.Fold(Events()), PutianCase.Id, grouping, null, "USD");

        report.Groups.Select(g => g.Key).ShouldBe(keys);
        report.Groups.Sum(g => g.Totals.Claims).ShouldBe(report.Total.Claims);
        report.Groups.Sum(g => g.Totals.Claimed.Amount).ShouldBe(report.Total.Claimed.Amount);
        report.Groups.Sum(g => g.Totals.Entitled.Amount).ShouldBe(report.Total.Entitled.Amount);
    }

    [Fact]
    public void per_month_of_payment_the_figures_are_those_of_the_claims_paid_that_month()
    {
        var report = PaidVsLost.Build(ClaimTotalsLine.Fold(Events()), PutianCase.Id, PaidVsLostGrouping.Month, null, "USD");

        var january = report.Groups[0].Totals;
        january.Claimed.ShouldBe(Money.Of(1400.00m, "USD"));
        january.Entitled.ShouldBe(Money.Of(980.00m, "USD"));
        var february = report.Groups[1].Totals;
        february.Claimed.ShouldBe(Money.Of(3400.00m, "USD"));
        february.ClaimedUnconverted.ShouldBe([Money.Of(500.00m, "EUR")]);
        february.Entitled.ShouldBe(Money.Of(980.00m, "USD"));
    }

    [Fact]
    public void a_settled_payout_counts_as_paid_a_returned_one_only_as_returned_and_outstanding_is_entitled_minus_paid()
    {
        // The fund's rule: a payout the bank returns was in transit, never settled, so it never reached the buyer.
        var lines = ClaimTotalsLine.Fold(Events()).Select(l => l.Id == Usd1400
            ? l.Return(Money.Of(980.00m, "USD"), T0 + Duration.FromDays(12))
            : l.Id == Eur1000 ? l.Settle(Money.Of(490.00m, "USD"), T0 + Duration.FromDays(10)) : l).ToList();

        var total = ClaimTotals.Sum(lines, "USD");

        total.Paid.ShouldBe(Money.Of(490.00m, "USD"));
        total.Returned.ShouldBe(Money.Of(980.00m, "USD"));
        total.Outstanding.ShouldBe(Money.Of(1470.00m, "USD")); // 1,960 - 490
        total.PaidToLost.ShouldBe(0.1021m); // 490 / 4,800 = 0.10208...
    }

    [Fact]
    public void a_payout_in_another_currency_than_the_fund_is_refused()
    {
        var line = ClaimTotalsLine.Fold(Events()).Single(l => l.Id == Usd1400);

        Should.Throw<InvalidOperationException>(() => line.Settle(Money.Of(700.00m, "EUR"), T0));
    }

    [Fact]
    public void information_requests_lapses_and_withdrawals_move_the_counts()
    {
        var events = Events().Concat(
        [
            new ClaimInformationRequested(Eur500, 1, ["receipt"], T0 + Duration.FromDays(30), Handler, T0 + Duration.FromHours(4)),
            new ClaimLapsed(Eur500, 1, T0 + Duration.FromDays(30), T0 + Duration.FromDays(30)),
        ]).ToList();

        var before = ClaimTotals.Sum(ClaimTotalsLine.Fold(events, T0 + Duration.FromDays(1)), "USD");
        before.ByStatus["awaiting-information"].ShouldBe(1);
        var after = ClaimTotals.Sum(ClaimTotalsLine.Fold(events), "USD");
        after.ByStatus["lapsed"].ShouldBe(1);
        after.ByStatus["awaiting-information"].ShouldBe(0);
        after.ClaimedUnconverted.ShouldBe([Money.Of(500.00m, "EUR")]); // a lapsed claim still says what was lost
    }

    [Fact]
    public void an_answered_information_request_returns_the_claim_to_where_it_was()
    {
        var line = ClaimTotalsLine.Fold(Events()).Single(l => l.Id == Eur500)
            .Apply(new ClaimInformationRequested(Eur500, 1, ["receipt"], T0 + Duration.FromDays(30), Handler, T0))
            .Apply(new ClaimInformationProvided(Eur500, 1, "attached", [], Handler, T0));

        line.Status.ShouldBe(ClaimStatus.Filed);
    }

    [Fact]
    public void the_csv_has_a_fixed_header_a_row_per_group_and_currency_and_the_total()
    {
        var report = PaidVsLost.Build(ClaimTotalsLine.Fold(Events()), PutianCase.Id, PaidVsLostGrouping.Platform, null, "USD");

        var rows = PaidVsLost.ToCsv(report).Split("\r\n");

        rows[0].ShouldBe("group,currency,claimed,verified,entitled,paid,returned,outstanding,paid_to_lost,claims,"
                         + "filed,verified-eligible,verified-ineligible,needs-review,awaiting-information,approved,rejected,under-appeal,lapsed,withdrawn");
        rows[1].ShouldBe("Alibaba.com,USD,3400.00,3400.00,980.00,0.00,0.00,980.00,0.0000,2,0,0,0,0,0,1,1,0,0,0");
        rows[2].ShouldBe("Made-in-China.com,USD,1400.00,1400.00,980.00,0.00,0.00,980.00,0.0000,2,1,0,0,0,0,1,0,0,0,0");
        rows[3].ShouldBe("Made-in-China.com,EUR,500.00,0.00,,,,,,,,,,,,,,,,");
        rows[4].ShouldBe("(total),USD,4800.00,4800.00,1960.00,0.00,0.00,1960.00,0.0000,4,1,0,0,0,0,2,1,0,0,0");
        rows[5].ShouldBe("(total),EUR,500.00,0.00,,,,,,,,,,,,,,,,");
        rows[6].ShouldBe("");
        rows.Length.ShouldBe(7);
    }

    [Theory]
    [InlineData("Alibaba.com", "Alibaba.com")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("=HYPERLINK(\"x\")", "\"'=HYPERLINK(\"\"x\"\")\"")]
    [InlineData("@sum", "'@sum")]
    [InlineData("-12.50", "-12.50")]
    public void csv_fields_are_quoted_when_needed_and_formulas_defused(string value, string expected) =>
        PaidVsLost.Field(value).ShouldBe(expected);

    [Theory]
    [InlineData(1234.5, "USD", "1234.50")]
    [InlineData(5000, "JPY", "5000")]
    [InlineData(1.2345, "BHD", "1.235")]
    public void csv_amounts_have_exactly_the_currency_s_decimal_places(decimal amount, string currency, string expected) =>
        PaidVsLost.Amount(new Money(amount, currency)).ShouldBe(expected);

    [Fact]
    public void the_chart_has_one_bar_pair_per_group_with_amounts_and_currency()
    {
        var report = PaidVsLost.Build(ClaimTotalsLine.Fold(Events()), PutianCase.Id, PaidVsLostGrouping.Month, null, "USD");

        var svg = System.Xml.Linq.XDocument.Parse(PaidVsLostChart.Render(report, "Putian ring"));

        System.Xml.Linq.XNamespace ns = "http://www.w3.org/2000/svg";
        svg.Root!.Element(ns + "title")!.Value.ShouldBe("Paid versus lost per month: Putian ring");
        svg.Root.Element(ns + "desc")!.Value.ShouldContain("4800.00 USD lost");
        var pairs = svg.Descendants(ns + "g").Where(g => (string?)g.Attribute("class") == "bar-pair").ToList();
        pairs.Select(g => (string?)g.Attribute("data-group")).ShouldBe(["2011-01", "2011-02"]);
        pairs[1].Elements(ns + "rect").Select(r => r.Element(ns + "title")!.Value).ShouldBe(["2011-02: 3400.00 USD lost", "2011-02: 0.00 USD paid back (0.0% of the loss)"]);
    }
}
