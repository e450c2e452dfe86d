using System.Text;
using CompensationLedger.Claims;

namespace CompensationLedger.Specs.Claims;

public sealed class ClaimCsvSpecs
{
    private const string Header = "buyer_name,buyer_country,buyer_email,buyer_company,buyer_phone,platform,supplier_account,order_reference,"
        + "order_date,payment_date,amount,currency,payment_reference,beneficiary_account,goods_description";

    private const string Row = "Jane Buyer,US,jane@example.com,Buyer Imports LLC,,Alibaba.com,cnxinda2010,ORD-1,2011-02-01,2011-02-10,1400.00,USD,TT-1,,laptops";

    private static async Task<List<CsvRecord>> Read(string text, bool bom = false)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        if (bom) bytes = [0xEF, 0xBB, 0xBF, .. bytes];
        var reader = CsvReader.Utf8(new MemoryStream(bytes));
        var records = new List<CsvRecord>();
        while (await reader.ReadAsync() is { } record) records.Add(record);
        return records;
    }

    private static Dictionary<string, int> Index() => ClaimCsv.ReadHeader(Header.Split(',')).Index!;

    [Fact]
    public async Task quoted_fields_keep_their_commas_and_doubled_quotes()
    {
        var records = await Read("a,\"b, with comma\",\"say \"\"hi\"\"\",\"\"\n");

        records.ShouldHaveSingleItem().Fields.ShouldBe(["a", "b, with comma", "say \"hi\"", ""]);
    }

    [Fact]
    public async Task crlf_lf_and_a_trailing_line_break_end_records_and_add_none()
    {
        var records = await Read("h1,h2\r\n1,2\r\n3,4\n5,6\r\n\r\n");

        records.Select(r => r.Fields).ShouldBe([["h1", "h2"], ["1", "2"], ["3", "4"], ["5", "6"]]);
        records.Select(r => r.Line).ShouldBe([1, 2, 3, 4]);
    }

    [Fact]
    public async Task a_line_break_inside_quotes_is_part_of_the_value_and_line_numbers_count_physical_lines()
    {
        var records = await Read("h1,h2\r\n1,\"two\r\nlines\"\r\n3,\"and\nthree\nmore\"\r\n5,6");

        records[1].Fields[1].ShouldBe("two\r\nlines");
        records[2].Fields[1].ShouldBe("and\nthree\nmore");
        records.Select(r => r.Line).ShouldBe([1, 2, 4, 7]);
        records[3].Fields.ShouldBe(["5", "6"]);
    }

    [Fact]
    public async Task a_utf8_byte_order_mark_is_not_part_of_the_first_column()
    {
        var records = await Read(Header + "\r\n" + Row, bom: true);

        records[0].Fields[0].ShouldBe("buyer_name");
        ClaimCsv.ReadHeader(records[0].Fields).Errors.ShouldBeNull();
    }

    // Every kind of field and line break, with records split at every possible place by small read buffers.
    private const string Tricky = "h1,h2,h3\r\n\r\n1,\"a, \"\"quoted\"\"\r\nvalue\",x\n\"\",,\"cr\ronly\"\r2,\"end\"\"\"\r\n\n\rlast,\"\"\"\"\"\",";

    private static async Task<List<CsvRecord>> ReadWith(string text, int bufferSize)
    {
        var reader = new CsvReader(new StringReader(text), bufferSize);
        var records = new List<CsvRecord>();
        while (await reader.ReadAsync() is { } record) records.Add(record);
        return records;
    }

    [Fact]
    public async Task quotes_line_breaks_and_empty_fields_read_as_written()
    {
        var records = await ReadWith(Tricky, 32 * 1024);

        records.Select(r => r.Fields).ShouldBe([
            ["h1", "h2", "h3"],
            ["1", "a, \"quoted\"\r\nvalue", "x"],
            ["", "", "cr\ronly"],
            ["2", "end\""],
            ["last", "\"\"", ""],
        ]);
        records.Select(r => r.Line).ShouldBe([1, 3, 5, 7, 10]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(11)]
    [InlineData(16)]
    [InlineData(64)]
    public async Task a_record_split_across_reads_is_read_as_one(int bufferSize)
    {
        var whole = await ReadWith(Tricky, 32 * 1024);

        var split = await ReadWith(Tricky, bufferSize);

        split.Select(r => r.Line).ShouldBe(whole.Select(r => r.Line));
        split.Select(r => r.Fields).ShouldBe(whole.Select(r => r.Fields));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(32 * 1024)]
    public async Task a_byte_order_mark_is_skipped_and_format_errors_name_their_line_whatever_the_buffer(int bufferSize)
    {
        (await ReadWith("\uFEFFh1,h2\n1,2", bufferSize))[0].Fields[0].ShouldBe("h1");
        (await Should.ThrowAsync<CsvFormatException>(() => ReadWith("h1,h2\n1,\"never\nclosed\n3,4\n", bufferSize))).Line.ShouldBe(2);
        (await Should.ThrowAsync<CsvFormatException>(() => ReadWith("h1,h2\n1,\"two\nlines\" tail\n", bufferSize))).Line.ShouldBe(3);
    }

    [Fact]
    public async Task an_unclosed_quote_names_the_line_it_opened_on()
    {
        var error = await Should.ThrowAsync<CsvFormatException>(() => Read("h1,h2\n1,\"never closed\n3,4\n"));

        error.Line.ShouldBe(2);
    }

    [Fact]
    public async Task text_after_a_closing_quote_is_refused()
    {
        var error = await Should.ThrowAsync<CsvFormatException>(() => Read("h1,h2\n1,\"quoted\" tail\n"));

        error.Line.ShouldBe(2);
    }

    [Fact]
    public void a_header_missing_required_columns_names_each_of_them()
    {
        var (index, errors) = ClaimCsv.ReadHeader(["buyer_name", "buyer_country", "platform"]);

        index.ShouldBeNull();
        errors!.Keys.ShouldBe(["buyer_email", "supplier_account", "order_reference", "order_date", "payment_date", "amount", "currency", "payment_reference", "goods_description"],
            ignoreOrder: true);
    }

    [Fact]
    public void unknown_and_repeated_columns_are_named_and_optional_columns_may_be_left_out()
    {
        var (_, errors) = ClaimCsv.ReadHeader([.. Header.Split(','), "buyer_fax", "amount"]);
        errors!.Keys.ShouldBe(["header[16]", "amount"], ignoreOrder: true);
        errors["header[16]"][0].ShouldContain("buyer_fax");

        var required = Header.Split(',').Except(ClaimCsv.OptionalColumns).Select(c => c.ToUpperInvariant()).ToArray();
        ClaimCsv.ReadHeader(required).Errors.ShouldBeNull();
    }

    [Fact]
    public void a_row_becomes_the_same_filing_a_json_request_would_be()
    {
        var caseId = Guid.NewGuid();
        var (command, errors) = ClaimCsv.ReadRow(caseId, Index(), new CsvRecord(2, Row.Split(',')));

        errors.ShouldBeNull();
        command!.CaseId.ShouldBe(caseId);
        command.Buyer.ShouldBe(new ClaimantBuyer("Jane Buyer", "US", "jane@example.com", "Buyer Imports LLC"));
        command.PaymentDate.ShouldBe(new NodaTime.LocalDate(2011, 2, 10));
        command.AmountPaid.ShouldBe(Money.Of(1400.00m, "USD"));
        command.BeneficiaryAccount.ShouldBeNull();
    }

    [Fact]
    public void row_errors_are_named_by_column_using_the_filing_rules()
    {
        var fields = Row.Split(',');
        fields[2] = "not-an-email";
        fields[8] = "01/02/2011";
        fields[10] = "1,400";
        fields[11] = "XXX";

        var (command, errors) = ClaimCsv.ReadRow(Guid.NewGuid(), Index(), new CsvRecord(7, fields));

        command.ShouldBeNull();
        errors!.Keys.ShouldBe(["buyer_email", "order_date", "amount", "currency"], ignoreOrder: true);
        ClaimCsv.Describe(7, errors).ShouldStartWith("Line 7: ");
    }

    [Fact]
    public void a_goods_description_wrapped_over_lines_is_filed_as_one_line()
    {
        var fields = Row.Split(',');
        fields[14] = "200 laptops,\r\n  at a third\nof the price";

        var (command, errors) = ClaimCsv.ReadRow(Guid.NewGuid(), Index(), new CsvRecord(2, fields));

        errors.ShouldBeNull();
        command!.GoodsDescription.ShouldBe("200 laptops, at a third of the price");
    }

    [Fact]
    public void a_row_with_the_wrong_number_of_fields_is_invalid()
    {
        var (_, errors) = ClaimCsv.ReadRow(Guid.NewGuid(), Index(), new CsvRecord(3, (Row + ",extra").Split(',')));

        errors!.Keys.ShouldBe(["row"]);
    }
}
