using System.Buffers;
using System.Reflection;
using System.Text.Json;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// A document's JSON exactly as the store's serializer writes it (Marten's <c>ToJson</c>), but as UTF-8 bytes in a buffer reused
/// from one document to the next, for the rebuilds' binary COPY into <c>jsonb</c> columns. <c>ToJson</c> gives a .NET string: the
/// serializer's UTF-8 turned into UTF-16 and Npgsql turning it back into UTF-8, and for a fund's ~50 MB snapshot a 100 MB string on
/// the large object heap each time (PROFILING.md, "Rebuild speed"). Marten's System.Text.Json serializer keeps its options private:
/// they are read once from its field, and when that cannot be done (another serializer, a Marten that renamed it) the bytes are
/// <c>ToJson</c>'s, encoded, so the JSON is the same either way (SnapshotRebuildTests compares them).
/// </summary>
internal sealed class Utf8Documents(Marten.ISerializer serializer)
{
    private readonly JsonSerializerOptions? options = OptionsOf(serializer);
    private readonly ArrayBufferWriter<byte> buffer = new(64 * 1024);
    private Utf8JsonWriter? writer;

    /// <summary>The options Marten's serializer writes documents with, or null when they cannot be read.</summary>
    internal static JsonSerializerOptions? OptionsOf(Marten.ISerializer serializer) =>
        serializer is Marten.Services.SystemTextJsonSerializer
            ? typeof(Marten.Services.SystemTextJsonSerializer).GetField("_options", BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(serializer) as JsonSerializerOptions
            : null;

    /// <summary>Whether the bytes come straight from the serializer's options (else from <c>ToJson</c>).</summary>
    internal bool Direct => options is not null;

    /// <summary>The document's JSON; valid until the next call.</summary>
    public ReadOnlyMemory<byte> Write(object document)
    {
        buffer.ResetWrittenCount();
        if (options is null)
        {
            var json = serializer.ToJson(document);
            var span = buffer.GetSpan(System.Text.Encoding.UTF8.GetMaxByteCount(json.Length));
            buffer.Advance(System.Text.Encoding.UTF8.GetBytes(json, span));
            return buffer.WrittenMemory;
        }
        if (writer is null) writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = options.Encoder, Indented = options.WriteIndented, MaxDepth = options.MaxDepth, SkipValidation = true });
        else writer.Reset(buffer);
        JsonSerializer.Serialize(writer, document, document.GetType(), options);
        writer.Flush();
        return buffer.WrittenMemory;
    }
}
