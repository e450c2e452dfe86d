using System.Globalization;
using System.Text;
using CompensationLedger.Infrastructure;
using NodaTime;
using NodaTime.Text;

namespace CompensationLedger.Claims;

/// <summary>One record of a CSV file: the physical line it starts on (1 = the header) and its fields.</summary>
public sealed record CsvRecord(int Line, IReadOnlyList<string> Fields);

/// <summary>The file is not CSV at all (an unterminated quote, text after a closing quote): the whole file is refused.</summary>
public sealed class CsvFormatException(int line, string message) : Exception($"Line {line}: {message}")
{
    public int Line { get; } = line;
}

/// <summary>
/// An RFC 4180 reader that reads as it goes (a 20 MB export is never held whole): comma-separated, fields
/// quoted with <c>"</c> when they hold commas, quotes (doubled) or line breaks, records ended by CRLF, LF or CR.
/// A UTF-8 byte order mark is skipped. Blank lines are skipped, so a trailing newline adds no record.
/// Line numbers are physical lines, so a goods description over three lines moves the next record's line by three,
/// which is what a person opening the file in an editor sees.
/// </summary>
public sealed class CsvReader
{
    private readonly TextReader _reader;
    private char[] _buffer;
    private int _position;
    private int _length;
    private bool _end;
    private bool _started;
    private int _line = 1;
    private readonly StringBuilder _field = new();

    /// <param name="reader">The text to read.</param>
    /// <param name="bufferSize">Characters read at a time; a record longer than this grows the buffer (small sizes are for tests of records split across reads).</param>
    public CsvReader(TextReader reader, int bufferSize = 32 * 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, 1);
        _reader = reader;
        _buffer = new char[bufferSize];
    }

    public static CsvReader Utf8(Stream stream) =>
        new(new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true, bufferSize: 32 * 1024, leaveOpen: true));

    /// <summary>The next record, or null at the end of the file.</summary>
    /// <remarks>
    /// A record is parsed from the buffer without awaiting (one state machine per record, not per character: the import reads a
    /// 100,000-row file twice). When the buffer ends inside a record, the record is parsed again from its start once more text is
    /// read, so a record split across reads is seen whole.
    /// </remarks>
    public async ValueTask<CsvRecord?> ReadAsync(CancellationToken ct = default)
    {
        while (true)
        {
            if (TryRecord(out var record)) return record;
            await FillAsync(ct);
        }
    }

    /// <summary>
    /// The record that starts at the current position, and true, when the buffer holds all of it (or the text has ended: the record
    /// is null at the end of the file). False, with nothing consumed, when more text must be read first.
    /// </summary>
    private bool TryRecord(out CsvRecord? record)
    {
        record = null;
        var p = _position;
        var line = _line;

        // Blank lines are skipped.
        while (true)
        {
            if (p == _length)
            {
                if (!_end) return false;
                _position = p;
                _line = line;
                return true;
            }
            var c = _buffer[p];
            if (c is not ('\r' or '\n')) break;
            if (!LineBreak(ref p)) return false;
            line++;
        }

        var recordLine = line;
        var fields = new List<string>(16);
        while (true)
        {
            if (p < _length && _buffer[p] == '"')
            {
                p++;
                var quoteLine = line;
                _field.Clear();
                while (true)
                {
                    if (p == _length)
                    {
                        if (!_end) return false;
                        throw new CsvFormatException(quoteLine, "a quoted field is never closed (a \" is missing).");
                    }
                    var run = _buffer.AsSpan(p, _length - p);
                    var special = run.IndexOfAny('"', '\r', '\n');
                    if (special < 0)
                    {
                        _field.Append(run);
                        p = _length;
                        continue;
                    }
                    _field.Append(run[..special]);
                    p += special;
                    var q = _buffer[p++];
                    if (q == '"')
                    {
                        if (p == _length && !_end) return false;
                        if (p < _length && _buffer[p] == '"')
                        {
                            p++;
                            _field.Append('"');
                            continue;
                        }
                        break;
                    }
                    if (q == '\n') line++;
                    else
                    {
                        // A CR counts as a line unless an LF follows (CRLF is one line break, counted at its LF).
                        if (p == _length && !_end) return false;
                        if (p == _length || _buffer[p] != '\n') line++;
                    }
                    _field.Append(q);
                }
                if (p == _length && !_end) return false;
                if (p < _length && _buffer[p] is not (',' or '\r' or '\n'))
                    throw new CsvFormatException(line, "text follows a closing quote; inside a quoted field a quote is written twice (\"\").");
                fields.Add(_field.ToString());
            }
            else
            {
                var rest = _buffer.AsSpan(p, _length - p);
                var stop = rest.IndexOfAny(',', '\r', '\n');
                if (stop < 0)
                {
                    if (!_end) return false;
                    stop = rest.Length;
                }
                fields.Add(new string(rest[..stop]));
                p += stop;
            }

            if (p == _length)
            {
                if (!_end) return false;
            }
            else if (_buffer[p] == ',')
            {
                p++;
                continue;
            }
            else
            {
                if (!LineBreak(ref p)) return false;
                line++;
            }
            _position = p;
            _line = line;
            record = new CsvRecord(recordLine, fields);
            return true;
        }
    }

    /// <summary>Steps over the CRLF, LF or CR at <paramref name="p"/>; false when a CR ends the buffer and the next character is not read yet.</summary>
    private bool LineBreak(ref int p)
    {
        if (_buffer[p] == '\r')
        {
            if (p + 1 == _length && !_end) return false;
            p++;
            if (p < _length && _buffer[p] == '\n') p++;
        }
        else p++;
        return true;
    }

    /// <summary>Keeps the unread part at the front of the buffer (growing it when one record fills it) and reads more after it.</summary>
    private async ValueTask FillAsync(CancellationToken ct)
    {
        var unread = _length - _position;
        if (_position > 0) Array.Copy(_buffer, _position, _buffer, 0, unread);
        else if (unread == _buffer.Length) Array.Resize(ref _buffer, _buffer.Length * 2);
        _position = 0;
        _length = unread;
        var read = await _reader.ReadAsync(_buffer.AsMemory(_length), ct);
        if (read == 0) _end = true;
        _length += read;
        if (!_started && _length > 0)
        {
            _started = true;
            if (_buffer[0] == '\uFEFF') _position = 1;
        }
    }
}

/// <summary>
/// A partner's complaint export as claims: the columns, how a row becomes a <see cref="FileClaim"/>, and how the
/// filing's own validation errors are named by column. The rules are FileClaim's; this file only translates.
/// </summary>
public static class ClaimCsv
{
    public const string MediaType = "text/csv";
    public const int MaxRows = 200_000;

    /// <summary>Every column, in the order an export should have them (any order is read).</summary>
    public static readonly string[] Columns =
    [
        "buyer_name", "buyer_country", "buyer_email", "buyer_company", "buyer_phone", "platform", "supplier_account", "order_reference",
        "order_date", "payment_date", "amount", "currency", "payment_reference", "beneficiary_account", "goods_description",
    ];

    /// <summary>Columns a file may leave out altogether (their values are optional on a claim too).</summary>
    public static readonly string[] OptionalColumns = ["buyer_company", "buyer_phone", "beneficiary_account"];

    /// <summary>FileClaim's field names (as its validation reports them) and the column each comes from.</summary>
    private static readonly Dictionary<string, string> ColumnOfField = new(StringComparer.Ordinal)
    {
        ["buyer.name"] = "buyer_name", ["buyer.country"] = "buyer_country", ["buyer.email"] = "buyer_email",
        ["buyer.company"] = "buyer_company", ["buyer.phone"] = "buyer_phone", ["platform"] = "platform",
        ["supplierAccount"] = "supplier_account", ["orderReference"] = "order_reference", ["orderDate"] = "order_date",
        ["paymentDate"] = "payment_date", ["amountPaid"] = "amount", ["amountPaid.amount"] = "amount", ["amountPaid.currency"] = "currency",
        ["paymentReference"] = "payment_reference", ["beneficiaryAccount"] = "beneficiary_account", ["goodsDescription"] = "goods_description",
    };

    /// <summary>Which field holds which column, or the problems with the header (missing, unknown, repeated columns).</summary>
    public static (Dictionary<string, int>? Index, Dictionary<string, string[]>? Errors) ReadHeader(IReadOnlyList<string> header)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        for (var i = 0; i < header.Count; i++)
        {
            var name = header[i].Trim().ToLowerInvariant();
            if (!Columns.Contains(name)) errors[$"header[{i + 1}]"] = [$"'{header[i]}' is not a column of a claims import; the columns are {string.Join(", ", Columns)}."];
            else if (!index.TryAdd(name, i)) errors[name] = ["appears more than once in the header."];
        }
        foreach (var missing in Columns.Except(OptionalColumns).Where(c => !index.ContainsKey(c)))
            errors[missing] = ["is a required column and is missing from the header."];
        return errors.Count == 0 ? (index, null) : (null, errors);
    }

    /// <summary>
    /// The row as a filing, or the reasons it cannot be one, by column. Values that are not even a date or a number are
    /// reported here; everything else is <see cref="FileClaimEndpoint.Validate"/>'s verdict, renamed to columns.
    /// </summary>
    public static (FileClaim? Command, Dictionary<string, string[]>? Errors) ReadRow(Guid caseId, IReadOnlyDictionary<string, int> index, CsvRecord record)
    {
        if (record.Fields.Count != index.Count)
            return (null, new Dictionary<string, string[]>(StringComparer.Ordinal)
            {
                ["row"] = [$"has {record.Fields.Count} fields but the header has {index.Count} (a comma in a value must be inside quotes)."],
            });

        string? Value(string column) => index.TryGetValue(column, out var i) && i < record.Fields.Count ? record.Fields[i] : null;
        string? Optional(string column) => string.IsNullOrWhiteSpace(Value(column)) ? null : Value(column);

        var unparsed = new Dictionary<string, string[]>(StringComparer.Ordinal);
        LocalDate Date(string column)
        {
            var text = Value(column)?.Trim() ?? "";
            if (text.Length == 0) unparsed[column] = ["is required."];
            else if (LocalDatePattern.Iso.Parse(text) is { Success: true } parsed) return parsed.Value;
            else unparsed[column] = ["must be an ISO date such as 2011-02-10 (yyyy-MM-dd)."];
            return default;
        }

        var amountText = Value("amount")?.Trim() ?? "";
        var amount = 1m;
        if (amountText.Length == 0) unparsed["amount"] = ["is required."];
        else if (!decimal.TryParse(amountText, NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out amount))
            unparsed["amount"] = ["must be a number with a dot for decimals and no thousands separators, such as 1400.00."];

        var command = new FileClaim(
            caseId,
            new ClaimantBuyer(Value("buyer_name") ?? "", Value("buyer_country")?.Trim() ?? "", Value("buyer_email") ?? "", Optional("buyer_company"), Optional("buyer_phone")),
            Value("platform") ?? "",
            Value("supplier_account") ?? "",
            Value("order_reference") ?? "",
            Date("order_date"),
            Date("payment_date"),
            new Money(amount, Value("currency")?.Trim().ToUpperInvariant() ?? ""),
            Value("payment_reference") ?? "",
            OneLine(Value("goods_description") ?? ""),
            Optional("beneficiary_account"));

        var errors = new Dictionary<string, string[]>(unparsed, StringComparer.Ordinal);
        if (FileClaimEndpoint.Validate(command) is Microsoft.AspNetCore.Http.HttpValidationProblemDetails { Errors: var invalid })
        {
            foreach (var (field, messages) in invalid)
            {
                var column = ColumnOfField.GetValueOrDefault(field, field);
                // A value that did not parse was replaced by a placeholder: what the rules say about the placeholder is noise.
                if (unparsed.ContainsKey(column) || (column is "payment_date" && unparsed.ContainsKey("order_date"))) continue;
                errors[column] = errors.TryGetValue(column, out var earlier) ? [.. earlier, .. messages] : messages;
            }
        }
        return errors.Count == 0 ? (command, null) : (null, errors);
    }

    /// <summary>
    /// A claim's goods description is one line (filing refuses control characters), but exports wrap long descriptions:
    /// each line break inside the quoted value becomes one space, so the text survives and the row is not refused for it.
    /// </summary>
    public static string OneLine(string text) =>
        text.Contains('\n') || text.Contains('\r')
            ? string.Join(' ', text.Split(["\r\n", "\n", "\r"], StringSplitOptions.None).Select(l => l.Trim()).Where(l => l.Length > 0))
            : text;

    /// <summary>"buyer_email must be an e-mail address.; amount is required." for people reading the outcome of a row.</summary>
    public static string Describe(int line, IReadOnlyDictionary<string, string[]> errors) =>
        $"Line {line}: " + string.Join(" ", errors.SelectMany(e => e.Value.Select(m => $"{e.Key} {m}")));
}
