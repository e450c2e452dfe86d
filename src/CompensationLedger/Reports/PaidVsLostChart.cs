using System.Globalization;
using System.Xml.Linq;
using CompensationLedger.Claims;
using CompensationLedger.Infrastructure;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Wolverine.Http;

namespace CompensationLedger.Reports;

/// <summary>
/// Paid versus lost as a bar chart: one pair of bars per group (lost, then paid back), drawn as plain SVG so any
/// browser shows it without scripts or a CDN. Accessible: role="img", &lt;title&gt; and &lt;desc&gt; for the chart,
/// a &lt;title&gt; on each bar with its amount and currency, and text labels rather than colour alone.
/// </summary>
public static class PaidVsLostChart
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private const int Width = 760;
    private const int PlotTop = 70;
    private const int PlotHeight = 260;
    private const int PlotLeft = 110;
    private const int PlotRight = 730;
    private const string LostColour = "#9e2a2b";
    private const string PaidColour = "#2a6f4e";

    /// <summary>Net paid back: what was paid and not returned.</summary>
    public static Money PaidBack(ClaimTotals totals) => totals.Paid;

    public static string Render(PaidVsLostReport report, string caseTitle)
    {
        var currency = report.FundCurrency;
        var groups = report.Groups;
        var max = groups.Count == 0 ? 0m : groups.Max(g => Math.Max(g.Totals.Claimed.Amount, PaidBack(g.Totals).Amount));
        var scale = max == 0m ? 0m : PlotHeight / max;
        var slot = groups.Count == 0 ? 0 : (PlotRight - PlotLeft) / (double)groups.Count;
        var barWidth = Math.Min(40, slot / 3);
        var height = PlotTop + PlotHeight + 110;
        var by = report.GroupBy is { } g ? PaidVsLost.GroupingName(g) : "total";
        var asOf = report.AsOf is { } instant ? $" as of {instant}" : "";
        var title = $"Paid versus lost per {by}: {caseTitle}{asOf}";
        var description = $"Bar chart of {groups.Count} {by} group(s). For each, the loss claimed and the amount paid back, in {currency}. " +
                          $"In total {Label(report.Total.Claimed)} lost and {Label(PaidBack(report.Total))} paid back" +
                          (report.Total.ClaimedUnconverted.Count > 0
                              ? $"; not yet converted to {currency} and not drawn: {string.Join(", ", report.Total.ClaimedUnconverted.Select(Label))}."
                              : ".");

        var root = new XElement(Svg + "svg",
            new XAttribute("width", Width), new XAttribute("height", height), new XAttribute("viewBox", $"0 0 {Width} {height}"),
            new XAttribute("role", "img"), new XAttribute("aria-labelledby", "chart-title chart-desc"),
            new XAttribute("font-family", "sans-serif"), new XAttribute("font-size", 12),
            new XElement(Svg + "title", new XAttribute("id", "chart-title"), title),
            new XElement(Svg + "desc", new XAttribute("id", "chart-desc"), description),
            new XElement(Svg + "rect", new XAttribute("width", "100%"), new XAttribute("height", "100%"), new XAttribute("fill", "#ffffff")),
            Text(Width / 2, 24, title, anchor: "middle", size: 16, weight: "bold"),
            Legend(),
            // Axes and their labels.
            Line(PlotLeft, PlotTop, PlotLeft, PlotTop + PlotHeight),
            Line(PlotLeft, PlotTop + PlotHeight, PlotRight, PlotTop + PlotHeight),
            new XElement(Svg + "text", new XAttribute("x", 20), new XAttribute("y", PlotTop + PlotHeight / 2),
                new XAttribute("transform", $"rotate(-90 20 {PlotTop + PlotHeight / 2})"), new XAttribute("text-anchor", "middle"),
                new XAttribute("class", "axis-label"), $"Amount ({currency})"),
            Text((PlotLeft + PlotRight) / 2, height - 12, CultureInfo.InvariantCulture.TextInfo.ToTitleCase(by), anchor: "middle", cssClass: "axis-label"),
            Text(PlotLeft - 6, PlotTop + 4, Label(new Money(max, currency)), anchor: "end"),
            Text(PlotLeft - 6, PlotTop + PlotHeight + 4, Label(Money.Zero(currency)), anchor: "end"));

        for (var i = 0; i < groups.Count; i++)
        {
            var group = groups[i];
            var centre = PlotLeft + slot * (i + 0.5);
            var lost = group.Totals.Claimed;
            var paid = PaidBack(group.Totals);
            root.Add(new XElement(Svg + "g", new XAttribute("class", "bar-pair"), new XAttribute("data-group", group.Key),
                Bar(centre - barWidth - 2, barWidth, lost.Amount * scale, LostColour, "lost", $"{group.Key}: {Label(lost)} lost"),
                Bar(centre + 2, barWidth, paid.Amount * scale, PaidColour, "paid", $"{group.Key}: {Label(paid)} paid back" +
                    (group.Totals.PaidToLost is { } ratio ? $" ({(ratio * 100m).ToString("0.0", CultureInfo.InvariantCulture)}% of the loss)" : "")),
                Text(centre, PlotTop + PlotHeight + 18, group.Key, anchor: "middle"),
                Text(centre, PlotTop + PlotHeight + 34, $"lost {Label(lost)}", anchor: "middle", size: 10),
                Text(centre, PlotTop + PlotHeight + 48, $"paid {Label(paid)}", anchor: "middle", size: 10)));
        }
        if (groups.Count == 0) root.Add(Text((PlotLeft + PlotRight) / 2, PlotTop + PlotHeight / 2, "No claims yet.", anchor: "middle"));

        return new XDocument(new XDeclaration("1.0", "utf-8", null), root).Declaration + "\n" + root.ToString(SaveOptions.DisableFormatting);
    }

    public static string Label(Money money) => $"{PaidVsLost.Amount(money)} {money.Currency}";

    private static XElement Bar(double x, double width, decimal height, string colour, string kind, string tooltip)
    {
        var h = (double)height;
        return new XElement(Svg + "rect", new XAttribute("class", kind),
            new XAttribute("x", Number(x)), new XAttribute("y", Number(PlotTop + PlotHeight - h)),
            new XAttribute("width", Number(width)), new XAttribute("height", Number(h)), new XAttribute("fill", colour),
            new XElement(Svg + "title", tooltip));
    }

    private static XElement Legend() =>
        new(Svg + "g", new XAttribute("class", "legend"),
            new XElement(Svg + "rect", new XAttribute("x", PlotLeft), new XAttribute("y", 40), new XAttribute("width", 12), new XAttribute("height", 12), new XAttribute("fill", LostColour)),
            Text(PlotLeft + 18, 50, "Lost (claimed)"),
            new XElement(Svg + "rect", new XAttribute("x", PlotLeft + 130), new XAttribute("y", 40), new XAttribute("width", 12), new XAttribute("height", 12), new XAttribute("fill", PaidColour)),
            Text(PlotLeft + 148, 50, "Paid back (paid - returned)"));

    private static XElement Line(double x1, double y1, double x2, double y2) =>
        new(Svg + "line", new XAttribute("x1", Number(x1)), new XAttribute("y1", Number(y1)), new XAttribute("x2", Number(x2)), new XAttribute("y2", Number(y2)),
            new XAttribute("stroke", "#333333"));

    private static XElement Text(double x, double y, string text, string anchor = "start", int size = 12, string? weight = null, string? cssClass = null)
    {
        var element = new XElement(Svg + "text", new XAttribute("x", Number(x)), new XAttribute("y", Number(y)), new XAttribute("text-anchor", anchor),
            new XAttribute("font-size", size), text);
        if (weight is not null) element.Add(new XAttribute("font-weight", weight));
        if (cssClass is not null) element.Add(new XAttribute("class", cssClass));
        return element;
    }

    private static string Number(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}

public static class PaidVsLostChartEndpoint
{
    public const string SvgMediaType = "image/svg+xml";

    [WolverineGet("/api/reports/paid-vs-lost.svg", Name = "PaidVsLostChart")]
    [Authorize(Roles = Roles.Finance + "," + Roles.Auditor)]
    [Tags("Reports")]
    [ProducesResponseType<string>(StatusCodes.Status200OK, SvgMediaType)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [EndpointSummary("Paid versus lost as an SVG bar chart per platform or payment month (groupBy), for a case or all; asOf an instant")]
    public static async Task<IResult> Get(IQuerySession session, ClaimPolicySettings policy, CancellationToken ct,
        string? caseId = null, string? groupBy = null, string? asOf = null)
    {
        var (query, invalid) = await PaidVsLostEndpoint.Parse(session, policy, caseId, groupBy, asOf, ct,
            allowed: [PaidVsLostGrouping.Platform, PaidVsLostGrouping.Month]);
        if (invalid is not null) return invalid.ToResult();
        var (report, refused) = await PaidVsLostEndpoint.Build(session, query!, ct);
        if (refused is not null) return refused.ToResult();
        var title = query!.CaseId is { } id ? (await session.LoadAsync<Cases.FraudCase>(id, ct))!.Title : "all cases";
        return Results.Text(PaidVsLostChart.Render(report!, title), SvgMediaType + "; charset=utf-8", System.Text.Encoding.UTF8);
    }
}
