using CompensationLedger.Claims;
using static CompensationLedger.Specs.Claims.ClaimGiven;

namespace CompensationLedger.Specs.Claims;

/// <summary>Given a claim's events, when the rebuild folds them many at once, then the claim is the one they make one by one, at the stream's version.</summary>
public sealed class ClaimFoldSpecs
{
    [Fact]
    public void the_rebuild_fold_makes_the_claim_the_events_make_at_the_stream_version()
    {
        var filed = Filed();
        var verified = Verified(Given(filed));

        var folded = Claim.FoldMany(null, [filed, verified], streamVersion: 2)!;

        folded.ShouldBe(Claim.Fold([filed, verified]) with { Verifiers = folded.Verifiers, Evidence = folded.Evidence });
        folded.Verifiers.ShouldBe([Verifier]);
        folded.Version.ShouldBe(2);
        Claim.FoldMany(folded, [], streamVersion: 2).ShouldBeSameAs(folded);
        Claim.FoldMany(Given(filed), [verified], streamVersion: 7)!.Version.ShouldBe(7);
    }
}
