using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using CompensationLedger.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using NodaTime;
using NodaTime.Text;
using Wolverine.Http;
using Marten;

namespace CompensationLedger.Funds;

public enum StatementDirection { Debit, Credit }

public enum StatementMatch { PayoutSettled, PayoutReturned, Deposit, AlreadyRecorded, AmountMismatch, Unmatched }

/// <summary>One line of a bank statement: money out of (debit) or into (credit) the fund's account.</summary>
public sealed record StatementLine(int Line, LocalDate Date, string Reference, Money Amount, StatementDirection Direction);

/// <summary>What a statement line matched, and the payout or deposit it matched.</summary>
public sealed record MatchedStatementLine(StatementLine Line, StatementMatch Match, Guid? PayoutId, string Detail);

/// <summary>Finance imported a bank statement; each line's match is recorded, unmatched lines included, for reconciliation.</summary>
public sealed record BankStatementImported(Guid FundId, string StatementId, IReadOnlyList<MatchedStatementLine> Lines, string ImportedBy, Instant ImportedAt);

/// <summary>
/// Import a bank statement for a fund: CSV with the header <c>date,reference,amount,currency,direction</c>
/// (ISO dates, positive amounts with a dot, direction <c>debit</c> = money out or <c>credit</c> = money in;
/// no quoted fields). A debit matching an in-transit payout by reference and amount settles it; a credit
/// matching one returns it (the bank sent it back); a credit matching a deposit's bank reference and
/// amount confirms it. Importing the same statement again changes nothing.
/// </summary>
public sealed record ImportBankStatement(Guid FundId, string Csv);

public sealed record BankStatementResult(string StatementId, bool AlreadyImported, IReadOnlyList<MatchedStatementLine> Lines);

public static class ImportBankStatementEndpoint
{
    public const int MaxLines = 10_000;
    private const string Header = "date,reference,amount,currency,direction";

    public static ProblemDetails Validate(ImportBankStatement command)
    {
        var check = new Validation();
        if (command.FundId == Guid.Empty) check.Add("fundId", "is required.");
        Parse(command.Csv, check);
        return check.ToProblem();
    }

    /// <summary>Parses the CSV, naming each bad cell as <c>csv.lines[n].column</c> (n = line number in the file).</summary>
    public static IReadOnlyList<StatementLine> Parse(string? csv, Validation check)
    {
        if (string.IsNullOrWhiteSpace(csv))
        {
            check.Add("csv", "is required.");
            return [];
        }
        var rows = csv.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        if (!string.Equals(rows[0].Trim().Replace(" ", "", StringComparison.Ordinal), Header, StringComparison.OrdinalIgnoreCase))
        {
            check.Add("csv", $"must start with the header line '{Header}'.");
            return [];
        }
        var lines = new List<StatementLine>();
        for (var i = 1; i < rows.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(rows[i])) continue;
            var field = $"csv.lines[{i + 1}]";
            var cells = rows[i].Split(',').Select(c => c.Trim()).ToArray();
            if (cells.Length != 5)
            {
                check.Add(field, $"has {cells.Length} columns; expected 5 ({Header}).");
                continue;
            }
            var date = LocalDatePattern.Iso.Parse(cells[0]);
            if (!date.Success) check.Add($"{field}.date", "must be an ISO date (2011-06-01).");
            if (cells[1].Length is 0 or > Validation.IdentifierLength) check.Add($"{field}.reference", $"must be 1 to {Validation.IdentifierLength} characters.");
            var minorUnits = Currencies.MinorUnits(cells[3]);
            if (minorUnits is null) check.Add($"{field}.currency", $"'{cells[3]}' is not an ISO 4217 currency code.");
            if (!decimal.TryParse(cells[2], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount) || amount <= 0m)
                check.Add($"{field}.amount", "must be a positive number with a dot for decimals.");
            else if (minorUnits is { } units && Money.Scale(amount) > units) check.Add($"{field}.amount", $"{cells[3]} allows at most {units} decimal places.");
            StatementDirection? direction = cells[4].ToLowerInvariant() switch { "debit" => StatementDirection.Debit, "credit" => StatementDirection.Credit, _ => null };
            if (direction is null) check.Add($"{field}.direction", "must be debit or credit.");
            if (check.IsValid) lines.Add(new StatementLine(i + 1, date.Value, cells[1], new Money(amount, cells[3]), direction!.Value));
        }
        if (check.IsValid && lines.Count == 0) check.Add("csv", "has no lines after the header.");
        if (lines.Count > MaxLines) check.Add("csv", $"has more than {MaxLines} lines.");
        return lines;
    }

    /// <summary>The statement's identity: the SHA-256 of its lines as parsed, so the same statement re-sent (even re-formatted) is recognised.</summary>
    public static string StatementId(IEnumerable<StatementLine> lines) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", lines.Select(l =>
            FormattableString.Invariant($"{l.Date:yyyy-MM-dd},{l.Reference},{Fund.Normalised(l.Amount.Amount)},{l.Amount.Currency},{l.Direction}"))))));

    public static Decision Decide(Fund fund, IReadOnlyList<StatementLine> lines, string by, Instant now)
    {
        var statementId = StatementId(lines);
        if (fund.HasStatement(statementId)) return Decision.Accept();

        var payoutsByReference = fund.Payouts.Values.ToDictionary(p => p.Reference, StringComparer.OrdinalIgnoreCase);
        var events = new List<object>();
        var matched = new List<MatchedStatementLine>();
        var touched = new HashSet<Guid>();
        foreach (var line in lines)
        {
            if (payoutsByReference.TryGetValue(line.Reference, out var payout))
            {
                if (line.Amount != payout.Amount)
                    matched.Add(new(line, StatementMatch.AmountMismatch, payout.Id, $"Payout {payout.Reference} is {payout.Amount}; the bank shows {line.Amount}."));
                else if (payout.Status != PayoutStatus.InTransit || !touched.Add(payout.Id))
                    matched.Add(new(line, StatementMatch.AlreadyRecorded, payout.Id, $"Payout {payout.Reference} is already {SettlePayoutEndpoint.Status(payout)}."));
                else if (line.Direction == StatementDirection.Debit)
                {
                    events.Add(new PayoutSettled(fund.Id, payout.Id, null, payout.Lines, line.Reference, by, now, payout.PerClaim));
                    matched.Add(new(line, StatementMatch.PayoutSettled, payout.Id, $"Payout {payout.Reference} settled."));
                }
                else
                {
                    events.Add(new PayoutReturned(fund.Id, payout.Id, null, payout.Lines, $"Returned by the bank (statement line {line.Line}, {line.Date:yyyy-MM-dd}).", by, now, payout.PerClaim));
                    matched.Add(new(line, StatementMatch.PayoutReturned, payout.Id, $"Payout {payout.Reference} returned; its money is available again."));
                }
            }
            else if (line.Direction == StatementDirection.Credit && fund.DepositsByBankReference.TryGetValue(line.Reference, out var deposit))
            {
                matched.Add(line.Amount == fund.Money(deposit.Amount)
                    ? new(line, StatementMatch.Deposit, null, $"Deposit {line.Reference} confirmed.")
                    : new(line, StatementMatch.AmountMismatch, null, $"Deposit {line.Reference} was recorded as {fund.Money(deposit.Amount)}; the bank shows {line.Amount}."));
            }
            else matched.Add(new(line, StatementMatch.Unmatched, null, "No payout or deposit has this reference."));
        }
        return Decision.Accept([new BankStatementImported(fund.Id, statementId, matched, by, now), .. events]);
    }

    [WolverinePost("/api/bank-statements", Name = "ImportBankStatement")]
    [Authorize(Roles = Roles.Finance)]
    [Tags("Rounds and payouts")]
    [EndpointSummary("Import a bank statement (CSV): settles and returns the payouts it matches, reports what it could not match")]
    public static async Task<IResult> Post(ImportBankStatement command, IDocumentSession session, ClaimsPrincipal user, IClock clock, CancellationToken ct)
    {
        // The fund's stream at the version read: a statement imported twice at once commits once.
        var stream = await session.Events.FetchForWriting<Fund>(command.FundId, ct);
        if (stream.Aggregate is not { } fund) return Problems.NotFound("Fund", command.FundId).ToResult();
        var lines = Parse(command.Csv, new Validation());
        var wrongCurrency = lines.FirstOrDefault(l => l.Amount.Currency != fund.Currency);
        if (wrongCurrency is not null)
            return Problems.Invalid($"csv.lines[{wrongCurrency.Line}].currency", $"must be the fund's currency, {fund.Currency}.").ToResult();
        // The snapshot keeps no payouts: the statement's are read from their rows by reference (FundRows).
        if (!fund.HasStatement(StatementId(lines)))
            fund = await FundRows.AtVersionAsync(session, await FundRows.WithPayoutsByReferenceAsync(session, fund, lines.Select(l => l.Reference), ct), stream.CurrentVersion, ct);
        var decision = Decide(fund, lines, user.StaffName(), clock.GetCurrentInstant());
        var statementId = StatementId(lines);
        stream.AppendMany(decision.Events);
        return decision.Events.Count == 0
            ? TypedResults.Ok(new BankStatementResult(statementId, true, (await Lines(session, fund, statementId, ct))!))
            : TypedResults.Created($"/api/funds/{fund.Id}", new BankStatementResult(statementId, false, decision.Events.OfType<BankStatementImported>().Single().Lines));
    }

    /// <summary>An imported statement's lines and what each matched: its report table rows (or, from an older snapshot, the fund's copy).</summary>
    public static async Task<IReadOnlyList<MatchedStatementLine>?> Lines(IQuerySession session, Fund fund, string statementId, CancellationToken ct)
    {
        if (fund.Statements.TryGetValue(statementId, out var kept)) return kept;
        return fund.StatementIds.Contains(statementId)
            ? (await Reports.Reconciliation.StatementAsync(session, statementId, Instant.MaxValue, ct, fund.Id))?.Lines ?? []
            : null;
    }
}
