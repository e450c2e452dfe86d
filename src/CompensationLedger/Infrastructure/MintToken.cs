using NodaTime;

namespace CompensationLedger.Infrastructure;

/// <summary>
/// <c>dotnet run --project src/CompensationLedger -- mint-token --name alice --role investigator [--role finance] [--hours 12]</c>:
/// prints a staff bearer token signed with the configured Auth:SigningKey. Handled before the host is
/// built, so it needs no database and prints nothing but the token on standard output.
/// </summary>
public static class MintToken
{
    public const string Command = "mint-token";

    public static int Run(IReadOnlyList<string> args, IConfiguration configuration)
    {
        string? name = null;
        var roles = new List<string>();
        var hours = 12;
        for (var i = 0; i < args.Count; i++)
        {
            var value = i + 1 < args.Count ? args[i + 1] : null;
            switch (args[i])
            {
                case "--name" or "-n" when value is not null: name = value; i++; break;
                case "--role" or "-r" when value is not null: roles.AddRange(value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)); i++; break;
                case "--hours" when int.TryParse(value, out hours): i++; break;
                default:
                    return Fail($"Unknown or incomplete option '{args[i]}'.");
            }
        }
        if (string.IsNullOrWhiteSpace(name)) return Fail("Give the staff member's name with --name.");
        var unknown = roles.Except(Roles.All).ToList();
        if (roles.Count == 0 || unknown.Count > 0)
            return Fail($"Give one or more roles with --role ({string.Join(", ", Roles.All)})." + (unknown.Count > 0 ? $" Unknown: {string.Join(", ", unknown)}." : ""));
        if (hours is < 1 or > 720) return Fail("--hours must be between 1 and 720.");

        var token = AuthSettings.From(configuration).MintToken(name, roles.Distinct(), SystemClock.Instance.GetCurrentInstant(), Duration.FromHours(hours));
        Console.WriteLine(token);
        return 0;
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine(message + " Usage: mint-token --name alice --role investigator [--role finance] [--hours 12]");
        return 2;
    }
}
