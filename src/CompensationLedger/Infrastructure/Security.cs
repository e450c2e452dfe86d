using System.IdentityModel.Tokens.Jwt;
using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.IdentityModel.Tokens;
using NodaTime;

namespace CompensationLedger.Infrastructure;

/// <summary>The staff roles of the API contract. Buyers have no role: they hold a reference and an access code.</summary>
public static class Roles
{
    public const string Investigator = "investigator";
    public const string ClaimsHandler = "claims-handler";
    public const string ClaimsApprover = "claims-approver";
    public const string Finance = "finance";
    public const string Auditor = "auditor";

    /// <summary>Every staff role: for reads that all staff may make.</summary>
    public const string AnyStaff = Investigator + "," + ClaimsHandler + "," + ClaimsApprover + "," + Finance + "," + Auditor;

    public static readonly IReadOnlyList<string> All = [Investigator, ClaimsHandler, ClaimsApprover, Finance, Auditor];
}

public static class StaffIdentity
{
    public const string NameClaim = "name";
    public const string RoleClaim = "role";

    /// <summary>The signed-in staff member's name, recorded on every event they cause.</summary>
    public static string StaffName(this ClaimsPrincipal user) =>
        user.FindFirst(NameClaim)?.Value ?? user.Identity?.Name
        ?? throw new InvalidOperationException("A signed-in staff member without a name reached an endpoint.");
}

/// <summary>
/// JWT bearer settings (section <c>Auth</c>). Tokens are signed with HMAC-SHA256 by
/// <c>Auth:SigningKey</c> (at least 32 bytes), issued by <c>Auth:Issuer</c> for <c>Auth:Audience</c>.
/// Development ships a key in appsettings.Development.json so <c>mint-token</c> works out of the box;
/// every other environment must configure its own.
/// </summary>
public sealed class AuthSettings
{
    public string Issuer { get; init; } = "compensation-ledger";
    public string Audience { get; init; } = "compensation-ledger";
    public string? SigningKey { get; init; }

    public static AuthSettings From(IConfiguration configuration) =>
        configuration.GetSection("Auth").Get<AuthSettings>() ?? new AuthSettings();

    public SymmetricSecurityKey Key()
    {
        if (string.IsNullOrWhiteSpace(SigningKey) || Encoding.UTF8.GetByteCount(SigningKey) < 32)
            throw new InvalidOperationException(
                "Auth:SigningKey is missing or shorter than 32 bytes: configure it (env Auth__SigningKey) to a secret of at least 32 characters.");
        return new SymmetricSecurityKey(Encoding.UTF8.GetBytes(SigningKey));
    }

    /// <summary>Mints a staff token. Used by the <c>mint-token</c> development command and by tests.</summary>
    public string MintToken(string name, IEnumerable<string> roles, Instant now, Duration lifetime)
    {
        var claims = new List<Claim> { new(StaffIdentity.NameClaim, name), new(JwtRegisteredClaimNames.Sub, name) };
        claims.AddRange(roles.Select(r => new Claim(StaffIdentity.RoleClaim, r)));
        var token = new JwtSecurityToken(
            issuer: Issuer,
            audience: Audience,
            claims: claims,
            notBefore: now.ToDateTimeUtc(),
            expires: (now + lifetime).ToDateTimeUtc(),
            signingCredentials: new SigningCredentials(Key(), SecurityAlgorithms.HmacSha256));
        return new JwtSecurityTokenHandler().WriteToken(token);
    }
}

public static class SecuritySetup
{
    public static IServiceCollection AddLedgerSecurity(this IServiceCollection services, IConfiguration configuration)
    {
        services
            .AddAuthentication(JwtBearerDefaults.AuthenticationScheme)
            .AddJwtBearer(options =>
            {
                var settings = AuthSettings.From(configuration);
                options.MapInboundClaims = false;
                options.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = settings.Issuer,
                    ValidAudience = settings.Audience,
                    IssuerSigningKey = settings.Key(),
                    NameClaimType = StaffIdentity.NameClaim,
                    RoleClaimType = StaffIdentity.RoleClaim,
                    ClockSkew = TimeSpan.FromSeconds(30),
                };
            });

        services.AddAuthorizationBuilder()
            // Secure by default: an endpoint that forgets its [Authorize] still needs a signed-in staff member.
            .SetFallbackPolicy(new AuthorizationPolicyBuilder()
                .RequireAuthenticatedUser()
                .RequireRole(Roles.All)
                .Build());
        return services;
    }
}
