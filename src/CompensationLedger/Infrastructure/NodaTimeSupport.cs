using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Marten;
using Marten.Linq.Members;
using NodaTime;
using NodaTime.Serialization.SystemTextJson;
using NpgsqlTypes;
using Weasel.Core;
using Weasel.Postgresql;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// The small part of Marten.NodaTime this service needs (that package is not on our NuGet source):
/// NodaTime values in JSON, as query parameters, and as members in LINQ queries.
/// </summary>
public static class NodaTimeSupport
{
    /// <summary>One JSON shape for events, documents and HTTP: camelCase, enums as strings, NodaTime as ISO.</summary>
    public static void ConfigureLedgerJson(this JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower, allowIntegerValues: false));
        options.ConfigureForNodaTime(DateTimeZoneProviders.Tzdb);
    }

    /// <summary>Registers NodaTime types with Weasel (parameter types) and Marten's LINQ member resolution.</summary>
    public static void UseLedgerNodaTime(this StoreOptions options)
    {
        PostgresqlProvider.Instance.RegisterMapping(typeof(LocalDate), "date", NpgsqlDbType.Date);
        PostgresqlProvider.Instance.RegisterMapping(typeof(Instant), "timestamp with time zone", NpgsqlDbType.TimestampTz);
        PostgresqlProvider.Instance.RegisterMapping(typeof(LocalDateTime), "timestamp without time zone", NpgsqlDbType.Timestamp);
        options.Linq.MemberSources.Insert(0, new NodaTimeMemberSource());
    }

    private sealed class NodaTimeMemberSource : IMemberSource
    {
        public bool TryResolve(IQueryableMember parent, StoreOptions options, MemberInfo memberInfo, Type memberType,
            [NotNullWhen(true)] out IQueryableMember? member)
        {
            var casing = options.Serializer().Casing;
            if (memberType == typeof(LocalDate) || memberType == typeof(LocalDate?))
            {
                member = new DateOnlyMember(options, parent, casing, memberInfo);
                return true;
            }
            if (memberType == typeof(LocalDateTime) || memberType == typeof(LocalDateTime?))
            {
                member = new DateTimeMember(options, parent, casing, memberInfo);
                return true;
            }
            if (memberType == typeof(Instant) || memberType == typeof(Instant?))
            {
                member = new InstantMember(options, parent, casing, memberInfo);
                return true;
            }
            member = null;
            return false;
        }
    }

    /// <summary>An Instant stored as ISO text, compared as timestamptz through Marten's immutable cast (index friendly).</summary>
    private sealed class InstantMember : QueryableMember, IComparableMember
    {
        public InstantMember(StoreOptions options, IQueryableMember parent, Casing casing, MemberInfo member)
            : base(parent, casing, member)
        {
            TypedLocator = $"{options.DatabaseSchemaName}.mt_immutable_timestamptz({RawLocator})";
        }

        public override string SelectorForDuplication(string pgType) => TypedLocator.Replace("d.data", "data", StringComparison.Ordinal);
    }
}
