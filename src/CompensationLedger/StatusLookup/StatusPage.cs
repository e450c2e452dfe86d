using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CompensationLedger.Claims;
using Marten;
using NodaTime;
using static System.Net.WebUtility;

namespace CompensationLedger.StatusLookup;

/// <summary>
/// GET /status: the buyers' page. Plain server-rendered HTML forms (works without JavaScript, labels
/// on every input, readable on a phone, nothing loaded from elsewhere). It shows what the buyer API
/// shows, and lets the buyer answer an information request with text and documents: the page hashes
/// each uploaded document (SHA-256) and records its name and hash on the claim; the file itself is
/// not kept by the ledger.
/// </summary>
public static class StatusPage
{
    public const long MaxUploadBytes = 20 * 1024 * 1024;

    public static void MapStatusPage(this WebApplication app)
    {
        app.MapGet("/status", () => Html(Page(Lookup(null, null, null))))
            .AllowAnonymous().ExcludeFromDescription();

        app.MapPost("/status", async (HttpContext context, IQuerySession session, LookupGuard guard) =>
            {
                var form = await context.Request.ReadFormAsync(context.RequestAborted);
                var (reference, code) = (form["reference"].ToString(), form["accessCode"].ToString());
                if (Invalid(reference, code) is { } problem) return Html(Page(Lookup(reference, problem, null)), 400);
                var outcome = await BuyerLookups.LookUp(session, guard, BuyerLookups.ClientAddress(context), reference, code, context.RequestAborted);
                return Render(context, outcome, reference, code, null);
            })
            .AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();

        app.MapPost("/status/answer", async (HttpContext context, IDocumentSession session, LookupGuard guard, IClock clock) =>
            {
                var form = await context.Request.ReadFormAsync(context.RequestAborted);
                var (reference, code, text) = (form["reference"].ToString(), form["accessCode"].ToString(), form["response"].ToString());
                if (Invalid(reference, code) is { } problem) return Html(Page(Lookup(reference, problem, null)), 400);
                if (string.IsNullOrWhiteSpace(text) || text.Length > Infrastructure.Validation.TextLength)
                    return Html(Page(Lookup(reference, $"Please write your answer (at most {Infrastructure.Validation.TextLength} characters).", null)), 400);

                var documents = new List<EvidenceDocument>();
                foreach (var file in form.Files.Where(f => f.Length > 0))
                {
                    if (file.Length > MaxUploadBytes) return Html(Page(Lookup(reference, $"{file.FileName} is larger than 20 MB.", null)), 400);
                    await using var stream = file.OpenReadStream();
                    var hash = await SHA256.HashDataAsync(stream, context.RequestAborted);
                    documents.Add(new EvidenceDocument(Path.GetFileName(file.FileName)[..Math.Min(Path.GetFileName(file.FileName).Length, 200)], Convert.ToHexStringLower(hash)));
                }

                var outcome = await BuyerLookups.Answer(session, guard, clock, BuyerLookups.ClientAddress(context), reference, code,
                    new RecordInformationResponse(text, documents), context.RequestAborted);
                return Render(context, outcome, reference, code, outcome is LookupOutcome.Found ? "Thank you: your answer was recorded." : null);
            })
            .AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();
    }

    private static string? Invalid(string reference, string code) =>
        string.IsNullOrWhiteSpace(reference) || string.IsNullOrWhiteSpace(code) ? "Please enter both the claim reference and the access code."
        : reference.Length > BuyerLookups.MaxReferenceLength || code.Length > BuyerLookups.MaxAccessCodeLength ? "That reference or access code is too long to be right."
        : null;

    private static IResult Render(HttpContext context, LookupOutcome outcome, string reference, string code, string? notice)
    {
        context.Response.Headers.CacheControl = "no-store";
        return outcome switch
        {
            LookupOutcome.Found found => Html(Page(StatusSection(found.Status, reference, code, notice))),
            LookupOutcome.TooManyTries wait => TooMany(context, wait.Wait, reference),
            LookupOutcome.Refused refused => Html(Page(Lookup(reference, refused.Refusal.Detail, null)), 409),
            _ => Html(Page(Lookup(reference, "No claim matches this reference and access code. Check both and try again.", null)), 404),
        };
    }

    private static IResult TooMany(HttpContext context, Duration wait, string reference)
    {
        var seconds = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return Html(Page(Lookup(reference, $"Too many tries. Please wait {seconds} seconds and try again.", null)), 429);
    }

    private static IResult Html(string html, int status = 200) => Results.Content(html, "text/html; charset=utf-8", Encoding.UTF8, status);

    private static string Lookup(string? reference, string? error, string? notice) => $"""
        <h1>Check your claim</h1>
        <p>Enter the claim reference and the access code you received when your claim was filed.</p>
        {(error is null ? "" : $"<p class=\"error\" role=\"alert\" id=\"lookup-error\">{HtmlEncode(error)}</p>")}
        {(notice is null ? "" : $"<p class=\"notice\" role=\"status\">{HtmlEncode(notice)}</p>")}
        <form method="post" action="/status" class="card">
          <p><label for="reference">Claim reference</label>
          <input id="reference" name="reference" required maxlength="{BuyerLookups.MaxReferenceLength}" autocomplete="off" spellcheck="false"
                 placeholder="CL-2011-000123-7" value="{HtmlEncode(reference ?? "")}"></p>
          <p><label for="accessCode">Access code</label>
          <input id="accessCode" name="accessCode" type="password" required maxlength="{BuyerLookups.MaxAccessCodeLength}" autocomplete="off" spellcheck="false"></p>
          <p><button type="submit">Show my claim</button></p>
        </form>
        """;

    private static string StatusSection(BuyerClaimStatus s, string reference, string code, string? notice)
    {
        var html = new StringBuilder();
        html.Append(CultureInfo.InvariantCulture, $"""
            <h1>Claim {HtmlEncode(s.Reference)}</h1>
            {(notice is null ? "" : $"<p class=\"notice\" role=\"status\" id=\"notice\">{HtmlEncode(notice)}</p>")}
            <section class="card" aria-labelledby="status-heading">
              <h2 id="status-heading">Status: <span id="status">{HtmlEncode(s.Headline)}</span></h2>
              <p>{HtmlEncode(s.Explanation)}</p>
              <p><strong>What happens next:</strong> {HtmlEncode(s.NextStep)}</p>
            </section>
            <section class="card" aria-labelledby="claim-heading">
              <h2 id="claim-heading">Your claim</h2>
              <dl>
                <dt>Filed on</dt><dd><time datetime="{s.FiledOn:uuuu-MM-dd}">{s.FiledOn:uuuu-MM-dd}</time></dd>
                <dt>Amount you paid</dt><dd>{HtmlEncode(s.AmountClaimed.ToString())}</dd>
                <dt>Platform and supplier</dt><dd>{HtmlEncode(s.Platform)}: {HtmlEncode(s.SupplierAccount)}</dd>
                {(s.PaidToAccount is null ? "" : $"<dt>Bank account you paid</dt><dd>{HtmlEncode(s.PaidToAccount)}</dd>")}
                {(s.Entitlement is null ? "" : $"<dt>The fund owes you</dt><dd id=\"entitlement\">{HtmlEncode(s.Entitlement.Amount.ToString())}</dd><dt>How this was worked out</dt><dd>{HtmlEncode(s.Entitlement.HowComputed)}</dd>")}
                <dt>Paid so far</dt><dd id="paid">{HtmlEncode(s.Paid.ToString())}</dd>
              </dl>
            </section>
            """);

        if (s.Missing is { } missing)
        {
            html.Append(CultureInfo.InvariantCulture, $"""
                <section class="card" aria-labelledby="missing-heading">
                  <h2 id="missing-heading">We need information from you</h2>
                  <p>Please send this before <time datetime="{missing.Deadline}">{HtmlEncode(missing.DeadlineText)}</time>:</p>
                  <ul id="missing">{string.Concat(missing.Items.Select(i => $"<li>{HtmlEncode(i)}</li>"))}</ul>
                  <form method="post" action="/status/answer" enctype="multipart/form-data">
                    <input type="hidden" name="reference" value="{HtmlEncode(reference)}">
                    <input type="hidden" name="accessCode" value="{HtmlEncode(code)}">
                    <p><label for="response">Your answer</label>
                    <textarea id="response" name="response" rows="6" required maxlength="{Infrastructure.Validation.TextLength}"></textarea></p>
                    <p><label for="documents">Documents (optional; we keep each file's name and fingerprint)</label>
                    <input id="documents" name="documents" type="file" multiple></p>
                    <p><button type="submit">Send my answer</button></p>
                  </form>
                </section>
                """);
        }

        if (s.Payments.Count > 0)
        {
            html.Append("<section class=\"card\" aria-labelledby=\"payments-heading\"><h2 id=\"payments-heading\">Payments</h2><ul>");
            foreach (var p in s.Payments)
                html.Append(CultureInfo.InvariantCulture, $"<li><time datetime=\"{p.Date:uuuu-MM-dd}\">{p.Date:uuuu-MM-dd}</time>: {HtmlEncode(p.Amount.ToString())} ({HtmlEncode(p.Status)}){(p.WhatToDo is null ? "" : " " + HtmlEncode(p.WhatToDo))}</li>");
            html.Append("</ul></section>");
        }

        html.Append("<section class=\"card\" aria-labelledby=\"timeline-heading\"><h2 id=\"timeline-heading\">What has happened</h2><ol id=\"timeline\">");
        foreach (var entry in s.Timeline)
            html.Append(CultureInfo.InvariantCulture, $"<li><time datetime=\"{entry.At}\">{HtmlEncode(BuyerStatus.Format(entry.At))}</time> <strong>{HtmlEncode(entry.Title)}</strong>: {HtmlEncode(entry.Detail)}</li>");
        html.Append("</ol></section><p><a href=\"/status\">Look up another claim</a></p>");
        return html.ToString();
    }

    private static string Page(string main) => $$"""
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <meta name="referrer" content="no-referrer">
          <title>Check your claim · Buyer compensation fund</title>
          <style>
            body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1a1a1a; background: #f6f6f4; line-height: 1.5; }
            header { background: #12355b; color: #fff; padding: .75rem 1rem; }
            main { max-width: 42rem; margin: 0 auto; padding: 1rem; }
            .card { background: #fff; border: 1px solid #d0d0cc; border-radius: .5rem; padding: 1rem; margin: 1rem 0; }
            label { display: block; font-weight: 600; margin-bottom: .25rem; }
            input, textarea { width: 100%; box-sizing: border-box; font-size: 1rem; padding: .5rem; border: 1px solid #767676; border-radius: .25rem; }
            button { font-size: 1rem; padding: .6rem 1.2rem; background: #12355b; color: #fff; border: 0; border-radius: .25rem; cursor: pointer; }
            :focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
            .error { background: #fde8e8; border-left: 4px solid #b00020; padding: .5rem .75rem; }
            .notice { background: #e6f4ea; border-left: 4px solid #1e7e34; padding: .5rem .75rem; }
            dt { font-weight: 600; } dd { margin: 0 0 .5rem 0; }
            ol { padding-left: 1.25rem; } li { margin-bottom: .5rem; }
          </style>
        </head>
        <body>
          <header><strong>Buyer compensation fund</strong></header>
          <main>
        {{main}}
          </main>
        </body>
        </html>
        """;
}
