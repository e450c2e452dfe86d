using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CompensationLedger.Infrastructure;
using CompensationLedger.IntegrationTests.Cases;
using CompensationLedger.IntegrationTests.Infrastructure;
using CompensationLedger.IntegrationTests.StatusLookup;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace CompensationLedger.IntegrationTests.Claims;

public sealed class ClaimImportTests(LedgerApp app) : IntegrationTest(app)
{
    private const string Header = "buyer_name,buyer_country,buyer_email,buyer_company,buyer_phone,platform,supplier_account,order_reference,"
        + "order_date,payment_date,amount,currency,payment_reference,beneficiary_account,goods_description";

    private static string Row(string paymentReference, string buyer = "Jane Buyer", string email = "jane@example.com", string paymentDate = "2011-02-10",
        string amount = "1400.00", string goods = "200 laptops") =>
        $"{buyer},US,{email},,,Alibaba.com,{ClaimApi.FlaggedSupplier},ORD-{paymentReference},2011-02-01,{paymentDate},{amount},USD,{paymentReference},,{goods}";

    private static string File(params string[] rows) => string.Join("\r\n", [Header, .. rows]) + "\r\n";

    private Task<HttpResponseMessage> Import(Guid caseId, string csv, string accept = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"/api/claims/imports?caseId={caseId}")
        {
            Content = new StringContent(csv, Encoding.UTF8, "text/csv"),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        return App.Handler().SendAsync(request);
    }

    private async Task<JsonElement> Imported(Guid caseId, string csv)
    {
        var response = await Import(caseId, csv);
        await response.ShouldBe(200);
        response.Headers.CacheControl!.NoStore.ShouldBeTrue();
        return await response.Json();
    }

    private async Task<int> FiledEvents()
    {
        await using var session = App.Store.QuerySession();
        return await Marten.QueryableExtensions.CountAsync(session.Events.QueryRawEventDataOnly<CompensationLedger.Claims.ClaimFiled>());
    }

    private static JsonElement[] Rows(JsonElement result) => result.GetProperty("rows").EnumerateArray().ToArray();

    [Fact]
    public async Task a_mixed_file_files_the_good_rows_and_says_why_each_other_row_was_not_filed()
    {
        var caseId = await App.OpenFlaggedCase();
        var existing = await App.FileClaim(ClaimApi.Filing(caseId, paymentReference: "TT-EXISTING", buyer: "Existing Buyer"));
        var events = await App.EventCount();

        var result = await Imported(caseId, File(
            Row("TT-1"),
            "\"Li, Wei\",US,li@example.com,,,Alibaba.com,cnxinda2010,ORD-2,2011-02-01,2011-02-10,999.50,USD,TT-2,,\"laptops, \"\"new\"\"\nsecond line\"",
            Row("TT-3", email: "not-an-email"),
            Row("TT-1", buyer: "Someone Else"),
            Row("TT-EXISTING", buyer: "Another Buyer"),
            Row("TT-LATE", paymentDate: "2010-12-01")));

        var counts = result.GetProperty("counts");
        counts.GetProperty("rows").GetInt32().ShouldBe(6);
        counts.GetProperty("filed").GetInt32().ShouldBe(2);
        counts.GetProperty("refused").GetInt32().ShouldBe(3);
        counts.GetProperty("invalid").GetInt32().ShouldBe(1);

        var rows = Rows(result);
        rows.Select(r => r.GetProperty("line").GetInt32()).ShouldBe([2, 3, 5, 6, 7, 8]); // the quoted line break moves later lines by one
        rows.Select(r => r.GetProperty("outcome").GetString()).ShouldBe(["filed", "filed", "invalid", "refused", "refused", "refused"]);
        rows[2].GetProperty("code").GetString().ShouldBe("validation");
        rows[2].GetProperty("detail").GetString()!.ShouldContain("Line 5");
        rows[2].GetProperty("errors").EnumerateObject().Select(e => e.Name).ShouldBe(["buyer_email"]);
        rows[3].GetProperty("code").GetString().ShouldBe("duplicate-claim");
        rows[3].GetProperty("detail").GetString()!.ShouldContain(rows[0].GetProperty("reference").GetString()!);
        rows[4].GetProperty("code").GetString().ShouldBe("duplicate-claim");
        rows[4].GetProperty("detail").GetString()!.ShouldContain(existing.GetProperty("reference").GetString()!);
        rows[5].GetProperty("code").GetString().ShouldBe("filing-window-closed");
        rows.Skip(2).Select(r => r.TryGetProperty("accessCode", out var code) ? code.ValueKind : JsonValueKind.Undefined)
            .ShouldAllBe(kind => kind == JsonValueKind.Null || kind == JsonValueKind.Undefined);

        (await App.EventCount()).ShouldBe(events + 2);
        var second = await App.GetClaim(rows[1].GetProperty("claimId").GetGuid());
        second.GetProperty("status").GetString().ShouldBe("filed");
        second.GetProperty("reference").GetString().ShouldBe(rows[1].GetProperty("reference").GetString());
        second.GetProperty("goodsDescription").GetString().ShouldBe("laptops, \"new\" second line"); // filed text is one line
        second.GetProperty("amountPaid").GetProperty("amount").GetDecimal().ShouldBe(999.50m);
    }

    [Fact]
    public async Task buyers_look_up_imported_claims_with_the_access_code_the_import_showed()
    {
        var caseId = await App.OpenFlaggedCase();
        var rows = Rows(await Imported(caseId, File(Row("TT-1"), Row("TT-2", buyer: "Li Wei"))));

        foreach (var row in rows)
        {
            var buyer = new BuyerCredentials(row.GetProperty("claimId").GetGuid(), row.GetProperty("reference").GetString()!, row.GetProperty("accessCode").GetString()!);
            var status = await App.Status(buyer);
            status.GetProperty("reference").GetString().ShouldBe(buyer.Reference);
            status.GetProperty("status").GetString().ShouldBe("filed");
        }
        await (await App.LookUp(rows[0].GetProperty("reference").GetString()!, rows[1].GetProperty("accessCode").GetString()!)).ShouldBe(404);
    }

    [Fact]
    public async Task importing_the_same_file_again_files_nothing_new()
    {
        var caseId = await App.OpenFlaggedCase();
        var csv = File(Row("TT-1"), Row("TT-2", buyer: "Li Wei"), Row("TT-3", buyer: "Ana Lima"));
        (await Imported(caseId, csv)).GetProperty("counts").GetProperty("filed").GetInt32().ShouldBe(3);
        var events = await App.EventCount();

        var again = await Imported(caseId, csv);

        again.GetProperty("counts").GetProperty("refused").GetInt32().ShouldBe(3);
        Rows(again).ShouldAllBe(r => r.GetProperty("code").GetString() == "duplicate-claim");
        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task a_thousand_rows_import_in_one_request_over_several_batches()
    {
        var caseId = await App.OpenFlaggedCase();
        var rows = Enumerable.Range(1, 1000).Select(i => Row($"TT-{i}", buyer: $"Buyer {i}", email: $"b{i}@example.com", amount: $"{100 + i}.00")).ToArray();

        var result = await Imported(caseId, File(rows));

        result.GetProperty("counts").GetProperty("filed").GetInt32().ShouldBe(1000);
        Rows(result).Select(r => r.GetProperty("reference").GetString()).Distinct().Count().ShouldBe(1000);
        (await App.EventCount()).ShouldBeGreaterThanOrEqualTo(1000);
        var list = await (await App.Client("reader", Roles.Auditor).GetAsync($"/api/claims?caseId={caseId}&pageSize=1")).Json();
        list.GetProperty("totalCount").GetInt64().ShouldBe(1000);
    }

    [Fact]
    public async Task two_handlers_importing_the_same_file_at_once_file_each_claim_once()
    {
        var caseId = await App.OpenFlaggedCase();
        var csv = File(Enumerable.Range(1, 300).Select(i => Row($"TT-{i}", buyer: $"Buyer {i}")).ToArray());

        var results = await Task.WhenAll(Import(caseId, csv), Import(caseId, csv));

        foreach (var response in results) await response.ShouldBe(200);
        var bodies = await Task.WhenAll(results.Select(r => r.Json()));
        bodies.Sum(b => b.GetProperty("counts").GetProperty("filed").GetInt32()).ShouldBe(300);
        bodies.Sum(b => b.GetProperty("counts").GetProperty("refused").GetInt32()).ShouldBe(300);
        bodies.SelectMany(Rows).Where(r => r.GetProperty("outcome").GetString() == "refused")
            .ShouldAllBe(r => r.GetProperty("code").GetString() == "duplicate-claim");
        // The batch that lost the race was rolled back; Marten marks the sequence numbers it had taken with tombstone events, which are not claims.
        (await FiledEvents()).ShouldBe(300);
    }

    [Fact]
    public async Task the_outcome_comes_as_csv_when_asked()
    {
        var caseId = await App.OpenFlaggedCase();

        var response = await Import(caseId, File(Row("TT-1"), Row("TT-1", buyer: "Li Wei")), accept: "text/csv");

        await response.ShouldBe(200);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/csv");
        var lines = (await response.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        lines[0].ShouldBe("line,outcome,reference,access_code,code,detail");
        lines[1].ShouldStartWith("2,filed,CL-2011-");
        lines[2].ShouldStartWith("3,refused,,,duplicate-claim,");
    }

    [Theory]
    [InlineData("", "file")]
    [InlineData(Header + "\r\n", "file")]
    [InlineData("buyer_name,buyer_country,platform,buyer_fax\r\nx,US,Alibaba.com,1\r\n", "buyer_email")]
    [InlineData(Header + "\r\nJane,US,\"never closed,,,\r\n", "file")]
    public async Task a_file_that_is_not_a_claims_csv_is_refused_whole_and_files_nothing(string csv, string field)
    {
        var caseId = await App.OpenFlaggedCase();
        var events = await App.EventCount();

        var problem = await (await Import(caseId, csv)).ShouldBeProblem(400);

        problem.ErrorFields().ShouldContain(field);
        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task a_broken_row_late_in_the_file_refuses_the_whole_file_before_anything_is_filed()
    {
        var caseId = await App.OpenFlaggedCase();
        var events = await App.EventCount();
        var rows = Enumerable.Range(1, 600).Select(i => Row($"TT-{i}", buyer: $"Buyer {i}")).Append("x,\"y\" z").ToArray();

        var problem = await (await Import(caseId, File(rows))).ShouldBeProblem(400);

        problem.GetProperty("errors").GetProperty("file")[0].GetString()!.ShouldContain("Line 602");
        (await App.EventCount()).ShouldBe(events);
    }

    [Fact]
    public async Task the_header_problem_names_the_unknown_column_and_each_missing_one()
    {
        var caseId = await App.OpenFlaggedCase();

        var problem = await (await Import(caseId, "buyer_name,buyer_country,platform,buyer_fax\r\nx,US,Alibaba.com,1\r\n")).ShouldBeProblem(400);

        var errors = problem.GetProperty("errors");
        errors.GetProperty("header[4]")[0].GetString()!.ShouldContain("buyer_fax");
        problem.ErrorFields().ShouldContain("goods_description");
        problem.ErrorFields().ShouldNotContain("buyer_name");
    }

    [Fact]
    public void the_import_alone_may_send_a_body_of_up_to_100_mb()
    {
        var endpoints = App.Host.Services.GetServices<EndpointDataSource>().SelectMany(s => s.Endpoints).OfType<RouteEndpoint>().ToArray();

        endpoints.Single(e => e.RoutePattern.RawText?.TrimStart('/') == "api/claims/imports")
            .Metadata.GetMetadata<IRequestSizeLimitMetadata>()!.MaxRequestBodySize.ShouldBe(CompensationLedger.Claims.ImportClaimsEndpoint.MaxBytes);
        endpoints.Single(e => e.RoutePattern.RawText?.TrimStart('/') == "api/claims" && e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Contains("POST"))
            .Metadata.GetMetadata<IRequestSizeLimitMetadata>().ShouldBeNull();
    }

    [Fact]
    public async Task an_unknown_case_is_404_and_a_missing_case_id_is_400()
    {
        (await (await Import(Guid.NewGuid(), File(Row("TT-1")))).ShouldBeProblem(404)).GetProperty("code").GetString().ShouldBe("not-found");

        var request = new HttpRequestMessage(HttpMethod.Post, "/api/claims/imports") { Content = new StringContent(File(Row("TT-1")), Encoding.UTF8, "text/csv") };
        (await (await App.Handler().SendAsync(request)).ShouldBeProblem(400)).ErrorFields().ShouldBe(["caseId"]);
    }
}
