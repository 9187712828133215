using SpotCheckpoint.Storage;

namespace SpotCheckpoint.Tests.Storage;

public class StoreKeysTests
{
    private static readonly string MaxLengthId = new('r', 128);

    [TestCase("a")]
    [TestCase("0")]
    [TestCase("demo")]
    [TestCase("demo-run_1.2")]
    [TestCase("Run.With.Dots")]
    [TestCase("_leading-underscore")]
    [TestCase("-leading-dash")]
    [TestCase("trailing.")]
    [TestCase("gpt2-small_2024-05-06T07.08")]
    public void Good_run_ids_are_accepted(string runId)
    {
        Assert.That(StoreKeys.ValidateRunId(runId), Is.EqualTo(runId));
        Assert.That(() => StoreKeys.ValidateKey(StoreKeys.ManifestKey(runId, 1)), Throws.Nothing,
            "a valid run id must give valid keys");
    }

    [Test]
    public void A_run_id_of_128_characters_is_accepted_and_129_refused()
    {
        Assert.That(StoreKeys.ValidateRunId(MaxLengthId), Is.EqualTo(MaxLengthId));
        Assert.That(() => StoreKeys.ValidateRunId(MaxLengthId + "r"), Throws.InstanceOf<ArgumentException>());
    }

    private static IEnumerable<TestCaseData> BadRunIds()
    {
        foreach (var id in new[]
                 {
                     "", ".", "..", ".hidden", "a/b", "/abs", "a\\b", "../x", "a b", " a", "a ", "a:b", "a*", "a?", "a%2F",
                     "ünïcode", "a\tb", "a\0b", "a\nb", "\nabc", "abc\r",
                 })
        {
            yield return new TestCaseData(id).SetArgDisplayNames(Show(id));
        }
    }

    private static string Show(string s) => s.Replace("\0", "\\0", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)
        .Replace("\r", "\\r", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);

    [TestCaseSource(nameof(BadRunIds))]
    public void Bad_run_ids_are_refused(string runId)
    {
        Assert.That(() => StoreKeys.ValidateRunId(runId), Throws.InstanceOf<ArgumentException>()
            .With.Property(nameof(ArgumentException.ParamName)).EqualTo("runId"));
    }

    [Test]
    public void A_run_id_with_a_trailing_newline_is_refused()
    {
        Assert.That(() => StoreKeys.ValidateRunId("abc\n"), Throws.InstanceOf<ArgumentException>());
    }

    [Test]
    public void A_null_run_id_is_refused()
    {
        Assert.That(() => StoreKeys.ValidateRunId(null!), Throws.InstanceOf<ArgumentNullException>());
    }

    [Test]
    public void Keys_have_the_documented_layout()
    {
        Assert.That(StoreKeys.StepPrefix("demo", 37), Is.EqualTo("demo/step-00000037/"));
        Assert.That(StoreKeys.ManifestKey("demo", 37), Is.EqualTo("demo/step-00000037/manifest.json"));
        Assert.That(StoreKeys.ManifestKey("demo", 0), Is.EqualTo("demo/step-00000000/manifest.json"));
        Assert.That(StoreKeys.ManifestKey("demo", 123_456_789), Is.EqualTo("demo/step-123456789/manifest.json"));
        Assert.That(() => StoreKeys.StepPrefix("demo", -1), Throws.InstanceOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Step_folders_sort_in_step_order_up_to_10_to_the_8()
    {
        // Object stores list keys lexicographically; zero padding keeps that equal to step order.
        var steps = new long[] { 0, 1, 9, 10, 99, 100, 12_345, 99_999_999 };
        var keys = steps.Select(s => StoreKeys.ManifestKey("demo", s)).ToList();
        Assert.That(keys, Is.Ordered.Using((IComparer<string>)StringComparer.Ordinal));
    }

    [TestCase(0L)]
    [TestCase(1L)]
    [TestCase(37L)]
    [TestCase(99_999_999L)]
    [TestCase(100_000_000L)]
    [TestCase(long.MaxValue)]
    public void Manifest_keys_parse_back_to_their_step(long step)
    {
        foreach (var runId in new[] { "demo", "a", "demo-run_1.2", MaxLengthId })
        {
            var key = StoreKeys.ManifestKey(runId, step);
            Assert.That(StoreKeys.TryParseManifestKey(runId, key, out var parsed), Is.True, key);
            Assert.That(parsed, Is.EqualTo(step), key);
        }
    }

    [TestCase("demo/step-00000037/manifest.json.partial", TestName = "Look-alike key: partial suffix")]
    [TestCase("demo/step-00000037/manifest.json.tmp", TestName = "Look-alike key: other suffix")]
    [TestCase("demo/step-00000037/manifest.jsonx", TestName = "Look-alike key: extended file name")]
    [TestCase("demo/step-00000037/xmanifest.json", TestName = "Look-alike key: prefixed file name")]
    [TestCase("demo/step-00000037/Manifest.json", TestName = "Look-alike key: wrong case")]
    [TestCase("demo/step-00000037/shard-00000.0123abcd.safetensors", TestName = "Look-alike key: shard")]
    [TestCase("demo/step-00000037/", TestName = "Look-alike key: folder only")]
    [TestCase("demo/step-00000037/sub/manifest.json", TestName = "Look-alike key: nested folder")]
    [TestCase("demo/step-0000037/manifest.json", TestName = "Look-alike key: seven digits")]
    [TestCase("demo/step-37/manifest.json", TestName = "Look-alike key: unpadded step")]
    [TestCase("demo/step-/manifest.json", TestName = "Look-alike key: no digits")]
    [TestCase("demo/step-0000003a/manifest.json", TestName = "Look-alike key: hex digit")]
    [TestCase("demo/step-+0000037/manifest.json", TestName = "Look-alike key: plus sign")]
    [TestCase("demo/step--0000037/manifest.json", TestName = "Look-alike key: minus sign")]
    [TestCase("demo/step- 0000037/manifest.json", TestName = "Look-alike key: space")]
    [TestCase("demo/step-０００００037/manifest.json", TestName = "Look-alike key: full-width digits")]
    [TestCase("demo/step-99999999999999999999/manifest.json", TestName = "Look-alike key: step overflowing long")]
    [TestCase("demo/STEP-00000037/manifest.json", TestName = "Look-alike key: upper-case step")]
    [TestCase("demo/steps-00000037/manifest.json", TestName = "Look-alike key: steps")]
    [TestCase("demo/x/step-00000037/manifest.json", TestName = "Look-alike key: extra folder")]
    [TestCase("demo2/step-00000037/manifest.json", TestName = "Look-alike key: other run with the same start")]
    [TestCase("dem/step-00000037/manifest.json", TestName = "Look-alike key: other run that is a prefix")]
    [TestCase("other/demo/step-00000037/manifest.json", TestName = "Look-alike key: run nested in another")]
    [TestCase("/demo/step-00000037/manifest.json", TestName = "Look-alike key: leading slash")]
    [TestCase("demo/step-00000037/manifest.json/", TestName = "Look-alike key: trailing slash")]
    [TestCase("demo/step-00000037manifest.json", TestName = "Look-alike key: missing slash")]
    [TestCase("manifest.json", TestName = "Look-alike key: bare manifest")]
    [TestCase("", TestName = "Look-alike key: empty")]
    public void Look_alike_keys_are_not_manifest_keys(string key)
    {
        Assert.That(StoreKeys.TryParseManifestKey("demo", key, out _), Is.False);
    }

    [Test]
    public void Over_padded_step_numbers_are_not_manifest_keys()
    {
        // Every accepted key must be the one ManifestKey builds for its step, so listing and opening agree.
        foreach (var key in new[] { "demo/step-000000037/manifest.json", "demo/step-0000000000000037/manifest.json", "demo/step-000000000/manifest.json" })
        {
            bool accepted = StoreKeys.TryParseManifestKey("demo", key, out var step);
            Assert.That(accepted && StoreKeys.ManifestKey("demo", step) != key, Is.False, $"{key} was accepted as step {step}");
        }
    }

    [Test]
    public void A_failed_parse_reports_no_step()
    {
        StoreKeys.TryParseManifestKey("demo", "demo/step-00000037/other.json", out var step);
        Assert.That(step, Is.EqualTo(-1));
    }

    [TestCase("demo/step-00000037/manifest.json")]
    [TestCase("a")]
    [TestCase("a/b/c/d/e")]
    [TestCase("run/step-00000001/shard-00000.0123abcd.safetensors")]
    [TestCase("dots.in.names/are..fine")]
    [TestCase("...")]
    public void Ordinary_keys_are_valid(string key)
    {
        Assert.That(StoreKeys.ValidateKey(key), Is.EqualTo(key));
    }

    [TestCase("", TestName = "Bad key: empty")]
    [TestCase("..", TestName = "Bad key: dot-dot")]
    [TestCase(".", TestName = "Bad key: dot")]
    [TestCase("a/../b", TestName = "Bad key: inner dot-dot")]
    [TestCase("a/./b", TestName = "Bad key: inner dot")]
    [TestCase("../a", TestName = "Bad key: leading dot-dot")]
    [TestCase("a/..", TestName = "Bad key: trailing dot-dot")]
    [TestCase("/a", TestName = "Bad key: absolute")]
    [TestCase("a/", TestName = "Bad key: trailing slash")]
    [TestCase("a//b", TestName = "Bad key: empty segment")]
    [TestCase("a\\b", TestName = "Bad key: backslash")]
    [TestCase("C:/a", TestName = "Bad key: drive letter")]
    [TestCase("a\u0000b", TestName = "Bad key: NUL")]
    [TestCase("a\u000Ab", TestName = "Bad key: newline")]
    [TestCase("a\u007Fb", TestName = "Bad key: DEL")]
    public void Keys_that_could_escape_a_root_are_refused(string key)
    {
        Assert.That(() => StoreKeys.ValidateKey(key), Throws.InstanceOf<ArgumentException>());
    }

    [Test]
    public void Keys_longer_than_1024_characters_are_refused()
    {
        Assert.That(StoreKeys.ValidateKey(new string('k', 1024)), Has.Length.EqualTo(1024));
        Assert.That(() => StoreKeys.ValidateKey(new string('k', 1025)), Throws.InstanceOf<ArgumentException>());
    }
}
