using System.Security.Claims;
using System.Text;
using CompensationLedger.Cases;
using CompensationLedger.Infrastructure;
using CompensationLedger.Reports;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using Wolverine.Http;

namespace CompensationLedger.Claims;

/// <summary>What happened to one row of an import. The access code is there for filed rows only, and only in this answer.</summary>
public sealed record ClaimImportRow(int Line, string Outcome, Guid? ClaimId = null, string? Reference = null, string? AccessCode = null,
    string? Code = null, string? Detail = null, IReadOnlyDictionary<string, string[]>? Errors = null)
{
    public const string Filed = "filed";
    public const string Refused = "refused";
    public const string Invalid = "invalid";
}

public sealed record ClaimImportCounts(int Rows, int Filed, int Refused, int Invalid);

public sealed record ClaimImportResult(Guid CaseId, ClaimImportCounts Counts, IReadOnlyList<ClaimImportRow> Rows);

/// <summary>
/// Bulk filing from a CSV export: each row is filed exactly as <c>POST /api/claims</c> would file it (the same
/// validation, decision and records), a batch at a time. A file that is not a claims CSV is refused whole before
/// anything is written; after that, each row stands on its own and the answer says what became of it.
/// </summary>
public static class ImportClaimsEndpoint
{
    /// <summary>
    /// Rows per transaction. 500 claims are about 4,000 inserts (stream, event, snapshot, totals line, two fingerprints,
    /// buyer, access hash), which Marten sends in a handful of round trips; larger batches gain little and make the
    /// row-by-row retry after a lost duplicate race longer, smaller ones pay a commit (an fsync) per few claims.
    /// </summary>
    public const int BatchSize = 500;

    /// <summary>100 MB: 200,000 rows of a typical export (~200 bytes each) with room for long goods descriptions.</summary>
    public const long MaxBytes = 100L * 1024 * 1024;

    /// <summary>
    /// <c>Ledger:Import:Copy</c> (default true): write each batch with COPY (<see cref="ClaimCopy"/>). False files every batch
    /// through Marten's session, statement by statement, as before; the import also does so by itself when the store is configured
    /// in a way the COPY writer does not reproduce (it logs why), and a batch that loses a duplicate race is retried claim by claim.
    /// </summary>
    public const string CopySetting = "Ledger:Import:Copy";

    [WolverinePost("/api/claims/imports", Name = "ImportClaims")]
    [Authorize(Roles = Roles.ClaimsHandler)]
    [Tags("Claims")]
    [RequestSizeLimit(MaxBytes)]
    [ProducesResponseType<ClaimImportResult>(StatusCodes.Status200OK, "application/json", ClaimCsv.MediaType)]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status400BadRequest, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status404NotFound, "application/problem+json")]
    [ProducesResponseType<ProblemDetails>(StatusCodes.Status415UnsupportedMediaType, "application/problem+json")]
    [EndpointSummary("Import claims from a CSV export (text/csv, UTF-8, header row, RFC 4180 quoting; at most 200,000 rows, 100 MB) into the case caseId; "
        + "columns buyer_name, buyer_country, buyer_email, buyer_company, buyer_phone, platform, supplier_account, order_reference, "
        + "order_date (yyyy-MM-dd), payment_date, amount (1400.00), currency, payment_reference, beneficiary_account, goods_description "
        + "(buyer_company, buyer_phone, beneficiary_account may be left out). Each row is filed as POST /api/claims files it; "
        + "200 with counts and one outcome per row (filed with reference and access code shown once, refused or invalid with code and detail); "
        + "CSV with Accept: text/csv")]
    public static async Task<IResult> Post(HttpRequest request, HttpResponse response, IDocumentStore store, ClaimPolicySettings policy,
        ClaimsPrincipal user, IClock clock, IConfiguration configuration, ILogger<ClaimImportResult> logger, CancellationToken ct, string? caseId = null)
    {
        if (!Guid.TryParse(caseId, out var caseGuid)) return Problems.Invalid("caseId", "is required: the fraud case (a GUID) the claims are filed against.").ToResult();
        if (request.ContentType is { } type && !type.StartsWith(ClaimCsv.MediaType, StringComparison.OrdinalIgnoreCase)
            && !type.StartsWith("application/csv", StringComparison.OrdinalIgnoreCase))
            return Problems.Create(StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "Send the claims as CSV.",
                $"The body must be text/csv (UTF-8), not {type}.").ToResult();

        FraudCase? fraudCase;
        await using (var query = store.QuerySession()) fraudCase = await query.LoadAsync<FraudCase>(caseGuid, ct);
        if (fraudCase is null) return Problems.NotFound("Fraud case", caseGuid).ToResult();

        // Read twice from one buffer that spills to disk: first to refuse a broken file before anything is written,
        // then to file. The body is never held whole in memory.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = MaxBytes;
        request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: MaxBytes);
        if (await CheckFile(request.Body, ct) is { } broken) return broken.ToResult();
        request.Body.Position = 0;

        var now = clock.GetCurrentInstant();
        PolicyTerms terms;
        await using (var query = store.QuerySession()) terms = await ClaimPolicies.ForCase(query, fraudCase.Id, policy, now, ct);
        ClaimCopy? copy = null;
        if (configuration.GetValue(CopySetting, true) && (copy = ClaimCopy.For(store, out var whyNoCopy)) is null)
            logger.LogWarning("Import files row by row, not with COPY: {Reason}", whyNoCopy);
        var import = new Import(store, copy, fraudCase, terms, user.StaffName(), now);
        var csv = CsvReader.Utf8(request.Body);
        var (index, _) = ClaimCsv.ReadHeader((await csv.ReadAsync(ct))!.Fields);
        var batch = new List<(int Line, FileClaim? Command, Dictionary<string, string[]>? Errors)>(BatchSize);
        while (await csv.ReadAsync(ct) is { } record)
        {
            var (command, errors) = ClaimCsv.ReadRow(caseGuid, index!, record);
            batch.Add((record.Line, command, errors));
            if (batch.Count == BatchSize)
            {
                await import.Add(batch, ct);
                batch.Clear();
            }
        }
        await import.Add(batch, ct);
        await import.Complete(ct);
        logger.LogInformation("Import of {Rows} rows into case {CaseId}: {Batches} batches, fingerprint lookups {LookupMs} ms, reference numbers {NumbersMs} ms, saves {SaveMs} ms, {CopiedBatches} batches written with COPY, {RetriedBatches} batches retried row by row",
            import.Rows.Count, caseGuid, import.Batches, import.Lookup.ElapsedMilliseconds, import.Numbers.ElapsedMilliseconds, import.Save.ElapsedMilliseconds, import.Copied, import.Retried);

        var rows = import.Rows;
        var result = new ClaimImportResult(caseGuid, new ClaimImportCounts(rows.Count,
            rows.Count(r => r.Outcome == ClaimImportRow.Filed), rows.Count(r => r.Outcome == ClaimImportRow.Refused), rows.Count(r => r.Outcome == ClaimImportRow.Invalid)), rows);

        // The body holds the only copy of the access codes: no cache, and the idempotency store keeps no body for it.
        response.Headers.CacheControl = "no-store";
        return PaidVsLostEndpoint.WantsCsv(request)
            ? Results.Text(ToCsv(result), ClaimCsv.MediaType + "; charset=utf-8", Encoding.UTF8)
            : TypedResults.Ok(result);
    }

    /// <summary>The whole file, read once without filing: a problem (400) when it is not a claims CSV this import can take, else null.</summary>
    public static async Task<ProblemDetails?> CheckFile(Stream body, CancellationToken ct)
    {
        var csv = CsvReader.Utf8(body);
        try
        {
            var header = await csv.ReadAsync(ct);
            if (header is null) return Problems.Invalid("file", "is empty: send a header row and one row per claim.");
            var (_, headerErrors) = ClaimCsv.ReadHeader(header.Fields);
            if (headerErrors is not null) return Problems.Invalid(headerErrors);
            var rows = 0;
            while (await csv.ReadAsync(ct) is not null)
                if (++rows > ClaimCsv.MaxRows) return Problems.Invalid("file", $"has more than {ClaimCsv.MaxRows:N0} rows; split it into several imports.");
            return rows == 0 ? Problems.Invalid("file", "has a header but no rows.") : null;
        }
        catch (CsvFormatException e)
        {
            return Problems.Invalid("file", e.Message);
        }
        catch (DecoderFallbackException)
        {
            return Problems.Invalid("file", "is not UTF-8 text; save the export as CSV UTF-8.");
        }
    }

    /// <summary>CSV (RFC 4180, CRLF): line, outcome, reference, access_code, code, detail.</summary>
    public static string ToCsv(ClaimImportResult result)
    {
        var csv = new StringBuilder("line,outcome,reference,access_code,code,detail\r\n");
        foreach (var row in result.Rows)
        {
            csv.Append(string.Join(',', new[]
            {
                row.Line.ToString(System.Globalization.CultureInfo.InvariantCulture), row.Outcome, row.Reference ?? "", row.AccessCode ?? "", row.Code ?? "", row.Detail ?? "",
            }.Select(PaidVsLost.Field))).Append("\r\n");
        }
        return csv.ToString();
    }

    private sealed class Import(IDocumentStore store, ClaimCopy? copy, FraudCase fraudCase, PolicyTerms terms, string handler, Instant now)
    {
        public List<ClaimImportRow> Rows { get; } = [];

        /// <summary>The batches' fingerprint lookup (one probe per key), built once for the import.</summary>
        private readonly string storedAmong = ClaimFingerprints.StoredAmongSql(store);

        // Where an import's time goes, for the log line an operator reads when an import is slow. With COPY the next batch is
        // prepared while the previous one is written, so these overlap and may add up to more than the import took.
        public System.Diagnostics.Stopwatch Lookup { get; } = new();
        public System.Diagnostics.Stopwatch Numbers { get; } = new();
        public System.Diagnostics.Stopwatch Save { get; } = new();
        public int Batches { get; private set; }
        public int Retried { get; private set; }
        public int Copied { get; private set; }

        private InFlight? writing;

        /// <summary>A batch decided: the claims to write and their fingerprints (what later batches must see as taken).</summary>
        private sealed record Prepared(List<Accepted> Claims, Dictionary<string, ClaimFingerprint> Fingerprints);

        private sealed record Accepted(int Row, int Line, ClaimFiled Filed, FileClaim Command, string AccessCode);

        /// <summary>A batch being written, and the outcomes that replace "filed" for claims that lost a duplicate race.</summary>
        private sealed record InFlight(Dictionary<string, ClaimFingerprint> Fingerprints, Task<(bool FellBack, List<(int Row, ClaimImportRow Outcome)> Replaced)> Write);

        /// <summary>
        /// Files one batch. With COPY, the batch is decided while the previous one is still being written (its fingerprints count
        /// as taken), then written once that write is done: the service's work and the database's overlap. If the previous batch
        /// fell back to filing claim by claim (a duplicate race), this batch is decided again once it is settled, so a duplicate of
        /// a claim that lost its race names the claim that won.
        /// </summary>
        public async Task Add(IReadOnlyList<(int Line, FileClaim? Command, Dictionary<string, string[]>? Errors)> batch, CancellationToken ct)
        {
            if (batch.Count == 0) return;
            Batches++;
            if (copy is null)
            {
                if (await Prepare(batch, null, ct) is { Claims.Count: > 0 } prepared) Apply(await Write(prepared, ct));
                return;
            }

            var firstRow = Rows.Count;
            Prepared next;
            try
            {
                next = await Prepare(batch, writing?.Fingerprints, ct);
            }
            catch
            {
                // Not answering while a batch is still being written: let it finish (its own failure is not this one's cause).
                try { await Complete(CancellationToken.None); } catch (Exception) { }
                throw;
            }
            if (await Complete(ct))
            {
                Rows.RemoveRange(firstRow, Rows.Count - firstRow);
                next = await Prepare(batch, null, ct);
            }
            if (next.Claims.Count > 0) writing = new InFlight(next.Fingerprints, Write(next, ct));
        }

        /// <summary>Waits for the batch being written; true when it fell back to filing claim by claim.</summary>
        public async Task<bool> Complete(CancellationToken ct)
        {
            if (writing is not { } inFlight) return false;
            writing = null;
            var outcome = await inFlight.Write.WaitAsync(ct);
            Apply(outcome);
            return outcome.FellBack;
        }

        private void Apply((bool FellBack, List<(int Row, ClaimImportRow Outcome)> Replaced) outcome)
        {
            foreach (var (row, replaced) in outcome.Replaced) Rows[row] = replaced;
        }

        private async Task<Prepared> Prepare(IReadOnlyList<(int Line, FileClaim? Command, Dictionary<string, string[]>? Errors)> batch,
            IReadOnlyDictionary<string, ClaimFingerprint>? inFlight, CancellationToken ct)
        {
            // Filed before this import, or earlier in it (earlier batches are committed, or being written: inFlight): one query for the whole batch.
            var fingerprints = batch.Select(r => r.Command is null ? [] : FileClaimEndpoint.Fingerprints(r.Command, Guid.Empty, "").Select(f => f.Id).ToArray()).ToArray();
            Dictionary<string, ClaimFingerprint> stored;
            Lookup.Start();
            await using (var query = store.QuerySession())
                stored = (await query.QueryAsync<ClaimFingerprint>(storedAmong, ct, [fingerprints.SelectMany(f => f).Distinct().ToArray()]))
                    .ToDictionary(f => f.Id, StringComparer.Ordinal);
            Lookup.Stop();
            ClaimFingerprint? Earlier(string id) => stored.GetValueOrDefault(id) ?? inFlight?.GetValueOrDefault(id);
            Numbers.Start();
            var numbers = await ClaimReferences.NextNumbersAsync(store, batch.Where((r, i) => r.Command is not null && !fingerprints[i].Any(id => Earlier(id) is not null)).Count(), ct);
            Numbers.Stop();

            var inBatch = new Dictionary<string, ClaimFingerprint>(StringComparer.Ordinal);
            var accepted = new List<Accepted>();
            var next = 0;
            for (var i = 0; i < batch.Count; i++)
            {
                var (line, command, errors) = batch[i];
                if (command is null)
                {
                    Rows.Add(new ClaimImportRow(line, ClaimImportRow.Invalid, Code: "validation", Detail: ClaimCsv.Describe(line, errors!), Errors: errors));
                    continue;
                }
                var storedDuplicate = fingerprints[i].Select(Earlier).FirstOrDefault(f => f is not null);
                var reference = storedDuplicate is null ? ClaimReferences.Format(now.InUtc().Year, numbers[next++]) : "";
                var duplicateOf = storedDuplicate ?? fingerprints[i].Select(inBatch.GetValueOrDefault).FirstOrDefault(f => f is not null);

                var decision = FileClaimEndpoint.Decide(Guid.CreateVersion7(), reference, command, fraudCase, terms, duplicateOf, handler, now);
                if (decision.Refusal is { } refusal)
                {
                    Rows.Add(Refused(line, refusal));
                    continue;
                }
                var filed = (ClaimFiled)decision.Events[0];
                foreach (var fingerprint in FileClaimEndpoint.Fingerprints(command, filed.ClaimId, filed.Reference)) inBatch[fingerprint.Id] = fingerprint;
                var accessCode = AccessCodes.New();
                accepted.Add(new Accepted(Rows.Count, line, filed, command, accessCode));
                Rows.Add(new ClaimImportRow(line, ClaimImportRow.Filed, filed.ClaimId, filed.Reference, accessCode));
            }
            return new Prepared(accepted, inBatch);
        }

        /// <summary>Writes a decided batch in one transaction; never touches <see cref="Rows"/> (the next batch may be adding to it), it returns what changes.</summary>
        private async Task<(bool FellBack, List<(int Row, ClaimImportRow Outcome)> Replaced)> Write(Prepared batch, CancellationToken ct)
        {
            Save.Start();
            try
            {
                if (copy is not null)
                {
                    // One transaction for the batch, written with COPY: the streams, their inline projections' rows and the documents beside them.
                    try
                    {
                        await copy.WriteAsync(batch.Claims.Select(a => new ClaimToFile(a.Filed, a.Command, a.AccessCode)).ToArray(), ct);
                        Copied++;
                        return (false, []);
                    }
                    catch (Exception e) when (ClaimCopy.IsConflict(e))
                    {
                        // Someone filed one of these payments at the same moment (nothing of the batch was written): file one by one,
                        // so only the real duplicates are refused.
                        Retried++;
                        return (true, await OneByOne(batch.Claims, ct));
                    }
                }
                try
                {
                    // One transaction for the batch: the streams, their inline projections and the documents beside them.
                    await using var session = store.LightweightSession();
                    foreach (var claim in batch.Claims) FileClaimEndpoint.Record(session, claim.Filed, claim.Command, claim.AccessCode);
                    await session.SaveChangesAsync(ct);
                    return (false, []);
                }
                catch (Exception e) when (IsFingerprintTaken(e))
                {
                    // Someone filed one of these payments at the same moment: file one by one, so only the real duplicates are refused.
                    Retried++;
                    return (true, await OneByOne(batch.Claims, ct));
                }
            }
            finally
            {
                Save.Stop();
            }
        }

        /// <summary>Each claim in its own Marten transaction; a claim that lost a duplicate race is refused with the claim that won.</summary>
        private async Task<List<(int Row, ClaimImportRow Outcome)>> OneByOne(List<Accepted> accepted, CancellationToken ct)
        {
            var replaced = new List<(int Row, ClaimImportRow Outcome)>();
            foreach (var (row, line, filed, command, accessCode) in accepted)
            {
                try
                {
                    await using var session = store.LightweightSession();
                    FileClaimEndpoint.Record(session, filed, command, accessCode);
                    await session.SaveChangesAsync(ct);
                }
                catch (Exception lost) when (IsFingerprintTaken(lost))
                {
                    await using var query = store.QuerySession();
                    var ids = FileClaimEndpoint.Fingerprints(command, filed.ClaimId, filed.Reference).Select(f => f.Id).ToArray();
                    var winner = (await query.LoadManyAsync<ClaimFingerprint>(ct, ids)).FirstOrDefault(f => f.ClaimId != filed.ClaimId);
                    replaced.Add((row, winner is null
                        ? new ClaimImportRow(line, ClaimImportRow.Refused, Code: "duplicate-claim",
                            Detail: "This payment was claimed by another claim filed at the same moment; nothing was filed.")
                        : Refused(line, FileClaimEndpoint.Duplicate(winner))));
                }
            }
            return replaced;
        }

        private static ClaimImportRow Refused(int line, Refusal refusal) => new(line, ClaimImportRow.Refused, Code: refusal.Code, Detail: refusal.Detail);

        private static bool IsFingerprintTaken(Exception exception)
        {
            for (var e = exception; e is not null; e = e.InnerException)
                if (e is JasperFx.DocumentAlreadyExistsException { DocType: var type } && type == typeof(ClaimFingerprint)) return true;
            return false;
        }
    }
}
