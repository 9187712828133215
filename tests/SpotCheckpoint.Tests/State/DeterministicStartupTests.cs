using static TorchSharp.torch;

namespace SpotCheckpoint.Tests.State;

/// <summary>
/// The vector-math warm-up must leave the training it precedes as it was: it draws no random numbers and keeps the
/// intra-op thread count (either would change every later result). That it prevents the first-call race is measured
/// across fresh processes by the benchmarks' --first-call-race (docs/reliability.md), not here: the race is too rare.
/// </summary>
[NonParallelizable] // reads and sets the process-wide generator
public class DeterministicStartupTests
{
    [Test]
    public void The_warm_up_draws_no_random_numbers_and_keeps_the_thread_count()
    {
        int threads = get_num_threads();
        manual_seed(123);
        using var expected = rand(8);
        manual_seed(123);

        DeterministicStartup.CallEachVectorMathFunction();

        using var drawn = rand(8);
        Assert.That(drawn.data<float>().ToArray(), Is.EqualTo(expected.data<float>().ToArray()), "the CPU generator is where the seed left it");
        Assert.That(get_num_threads(), Is.EqualTo(threads));
    }

    [Test]
    public async Task A_checkpointer_leaves_the_vector_math_warm()
    {
        using var store = new TempDirectory("spotckpt-startup-tests");
        await using var checkpointer = new Checkpointer(new SpotCheckpoint.Storage.LocalFileStore(store.Path));

        Assert.That(DeterministicStartup.IsVectorMathWarm, Is.True);
    }
}
