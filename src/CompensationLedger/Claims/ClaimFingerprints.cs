using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CompensationLedger.Cases;

namespace CompensationLedger.Claims;

/// <summary>
/// Marks one way a payment can be claimed twice. The id is a hash of the normalised fingerprint, so the
/// document table's primary key is the unique index that makes duplicate detection safe under concurrent
/// filings: fingerprints are inserted in the same transaction as <see cref="ClaimFiled"/>, and a racing
/// duplicate fails on the key instead of slipping through a read-then-write check. Hashed, so no buyer
/// name is readable in it.
/// </summary>
public sealed record ClaimFingerprint(string Id, string Kind, Guid ClaimId, string Reference);

public static class ClaimFingerprints
{
    public const string PaymentReference = "payment-reference";
    public const string BuyerSupplierAmountDate = "buyer-supplier-amount-date";

    /// <summary>
    /// Same payment reference (on any platform), or same buyer + supplier account + amount + payment date.
    /// The buyer is their name (letters and digits, case-insensitive) and country.
    /// </summary>
    public static IReadOnlyList<(string Id, string Kind)> For(string paymentReference, string buyerName, string buyerCountry,
        string supplierAccount, Money amountPaid, NodaTime.LocalDate paymentDate) =>
    [
        (Hash("pay", AccountNumbers.NormaliseBankAccount(paymentReference)), PaymentReference),
        (Hash("order", string.Join('|',
            Letters(buyerName), buyerCountry.ToUpperInvariant(), AccountNumbers.NormaliseSupplierAccount(supplierAccount),
            amountPaid.Amount.ToString("0.############", CultureInfo.InvariantCulture), amountPaid.Currency,
            paymentDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture))), BuyerSupplierAmountDate),
    ];

    /// <summary>
    /// The buyer's pseudonymous key: a hash of their normalised identity (name as letters and digits, country, e-mail
    /// address trimmed and lower-cased), fixed at filing and carried on <see cref="ClaimFiled"/> and to the fund, which
    /// pays all of one buyer's claims of a round in one transfer. A hash, so neither the fund's stream nor the claim's holds
    /// the buyer's name or address in clear, and erasing <see cref="BuyerDetails"/> leaves the books whole. All three parts,
    /// because merging two people's claims into one transfer is the costly mistake: a buyer who writes their name two ways
    /// is paid in two transfers, never one person's money to another.
    /// </summary>
    public static string BuyerKey(string buyerName, string buyerCountry, string buyerEmail) =>
        Hash("buyer", string.Join('|', Letters(buyerName), buyerCountry.Trim().ToUpperInvariant(), buyerEmail.Trim().ToLowerInvariant()));

    /// <summary>
    /// The stored fingerprints among a batch's keys (one parameter: the keys as a text array), as a Marten query: one probe of the
    /// primary key per key. Asked as <c>id = any(?)</c>, PostgreSQL's planner reads the whole table instead while it holds fewer
    /// than ~70,000 rows, because its default costs price each probe as a random disk read (the pages are cached): an import that
    /// follows a few thousand filings scanned the table it was filling on every batch (issue #7: the fingerprint lookups of a
    /// 100,000-row import took 3.6-5.9 s there against 1.1-1.6 s into empty tables). A lateral subquery with a limit cannot be
    /// turned into a join, so each key stays one probe whatever the table's size and statistics.
    /// </summary>
    public static string StoredAmongSql(Marten.IDocumentStore store) =>
        $"select d.data from unnest(?::text[]) as k(id) cross join lateral (select data from "
        + $"{store.Options.FindOrResolveDocumentType(typeof(ClaimFingerprint)).TableName.QualifiedName} where id = k.id limit 1) as d";

    private static string Letters(string text) => new(text.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant).ToArray());

    private static string Hash(string kind, string value) =>
        kind + ":" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));
}

/// <summary>
/// The buyer's personal data, kept out of the event log on purpose: a buyer's erasure request deletes
/// (or blanks) this document and leaves every event, and so the books, untouched.
/// </summary>
public sealed record BuyerDetails(Guid Id, string Name, string? Company, string Country, string Email, string? Phone, string? Address);
