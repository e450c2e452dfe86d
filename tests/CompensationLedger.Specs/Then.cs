using System.Text.Json;
using CompensationLedger.Infrastructure;

namespace CompensationLedger.Specs;

/// <summary>
/// Events are compared as what they are stored as: their JSON. Two events are the same fact when
/// they serialise the same way (collections compare by content, whatever their runtime type).
/// </summary>
public static class Then
{
    private static readonly JsonSerializerOptions Json = CreateJson();

    private static JsonSerializerOptions CreateJson()
    {
        var json = new JsonSerializerOptions();
        json.ConfigureLedgerJson();
        json.WriteIndented = true;
        return json;
    }

    public static void ShouldBeFact(this object actual, object expected)
    {
        actual.GetType().ShouldBe(expected.GetType());
        actual.AsStored().ShouldBe(expected.AsStored());
    }

    /// <summary>The JSON a value is compared by (to compare a value with itself at another moment).</summary>
    public static string AsStored(this object value) => JsonSerializer.Serialize(value, value.GetType(), Json);

    public static void ShouldBeFacts(this IEnumerable<object> actual, params object[] expected)
    {
        var list = actual.ToList();
        list.Count.ShouldBe(expected.Length);
        for (var i = 0; i < expected.Length; i++) list[i].ShouldBeFact(expected[i]);
    }
}
