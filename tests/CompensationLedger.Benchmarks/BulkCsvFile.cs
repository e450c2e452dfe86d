using System.Globalization;
using System.Text;
using NodaTime;

namespace CompensationLedger.Benchmarks;

/// <summary>
/// The bulk import's file (scenario 3 and the CSV micro-benchmark): a partner's export of distinct claims, one per row numbered from
/// <c>offset</c>, with the quoting a real export has (a comma and quotes in the goods).
/// </summary>
public static class BulkCsvFile
{
    public static byte[] Build(int rows, LocalDate today, int offset = 0)
    {
        var orderDate = today.PlusDays(-12).ToString("uuuu-MM-dd", CultureInfo.InvariantCulture);
        var paymentDate = today.PlusDays(-10).ToString("uuuu-MM-dd", CultureInfo.InvariantCulture);
        var csv = new StringBuilder("buyer_name,buyer_country,buyer_email,buyer_company,buyer_phone,platform,supplier_account,order_reference,order_date,payment_date,amount,currency,payment_reference,beneficiary_account,goods_description\r\n");
        for (var n = offset; n < offset + rows; n++)
            csv.Append(CultureInfo.InvariantCulture, $"Bulk Buyer {n},US,bulk{n}@example.com,,,Alibaba.com,cnbench,ORD-BULK-{n},{orderDate},{paymentDate},{1000 + n % 900}.00,USD,TT-BULK-{n},,\"Laptops, \"\"new\"\"\"\r\n");
        return Encoding.UTF8.GetBytes(csv.ToString());
    }
}
