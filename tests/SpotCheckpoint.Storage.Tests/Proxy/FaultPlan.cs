namespace SpotCheckpoint.Storage.Tests.Proxy;

/// <summary>The faults the proxy can inject.</summary>
public enum Fault
{
    /// <summary>Forward untouched.</summary>
    None,

    /// <summary>Drop the connection before the request reaches the store.</summary>
    ResetBeforeStore,

    /// <summary>Let the store apply the request, then drop the connection without an answer (an ambiguous outcome).</summary>
    ResetAfterStore,

    /// <summary>Answer 503 SlowDown (throttling) without forwarding.</summary>
    Throttle,

    /// <summary>Answer 500 InternalError without forwarding.</summary>
    ServerError,

    /// <summary>Forward, then cut the response body short and drop the connection.</summary>
    TruncateResponse,

    /// <summary>Forward only the first half of the request body (the store sees a shorter, well-formed request).</summary>
    TruncateRequest,

    /// <summary>Wait <see cref="FaultPlan.Delay"/>, then forward.</summary>
    Delay,
}

/// <summary>Which requests get which fault: a seeded random choice at a set rate, plus forced answers for tests.</summary>
public sealed class FaultPlan
{
    private readonly object _gate = new();
    private readonly Dictionary<Fault, int> _counts = new();
    private Random _random = new(1);

    /// <summary>The share of requests that get a fault (0 to 1).</summary>
    public double Rate { get; set; }

    /// <summary>The faults drawn from.</summary>
    public Fault[] Kinds { get; set; } = Enum.GetValues<Fault>().Where(f => f != Fault.None).ToArray();

    /// <summary>How long <see cref="Fault.Delay"/> waits.</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>When set, conditional creates (If-None-Match: * or ifGenerationMatch=0) are answered 412 this many more times.</summary>
    public int RefuseConditionalCreates { get; set; }

    /// <summary>
    /// Answer as an S3 bucket with SSE-KMS default encryption: ETags that are not MD5s of the content, plus
    /// <c>x-amz-server-side-encryption: aws:kms</c> (see <see cref="KmsAnswers"/>).
    /// </summary>
    public bool KmsBucket { get; set; }

    /// <summary>Answer every request 403 AccessDenied without forwarding (counted in <see cref="Requests"/>).</summary>
    public bool DenyAccess { get; set; }

    /// <summary>Requests seen.</summary>
    public int Requests { get; private set; }

    private readonly List<(Func<string, string, bool> Match, Fault Fault, int Left)> _forced = new();

    /// <summary>
    /// Gives the next <paramref name="times"/> requests that match (method, path and query) <paramref name="fault"/>,
    /// before and regardless of the random choice.
    /// </summary>
    public void Force(Fault fault, Func<string, string, bool> match, int times = 1)
    {
        lock (_gate) _forced.Add((match, fault, times));
    }

    private readonly List<(Func<string, string, bool> Match, int Status, string Code, int Left)> _answers = new();

    /// <summary>
    /// Answers the next <paramref name="times"/> matching requests with <paramref name="status"/> and an S3-style
    /// error <paramref name="code"/> without forwarding (for example 404 NoSuchUpload, as S3 answers a repeated
    /// CompleteMultipartUpload).
    /// </summary>
    public void ForceAnswer(int status, string code, Func<string, string, bool> match, int times = 1)
    {
        lock (_gate) _answers.Add((match, status, code, times));
    }

    internal (int Status, string Code)? TakeAnswer(string method, string pathAndQuery)
    {
        lock (_gate)
        {
            for (int i = 0; i < _answers.Count; i++)
            {
                var (match, status, code, left) = _answers[i];
                if (left <= 0 || !match(method, pathAndQuery)) continue;
                _answers[i] = (match, status, code, left - 1);
                Requests++;
                return (status, code);
            }
            return null;
        }
    }

    /// <summary>How many forced faults were given.</summary>
    public int ForcedGiven { get; private set; }

    internal Fault? TakeForced(string method, string pathAndQuery)
    {
        lock (_gate)
        {
            for (int i = 0; i < _forced.Count; i++)
            {
                var (match, fault, left) = _forced[i];
                if (left <= 0 || !match(method, pathAndQuery)) continue;
                _forced[i] = (match, fault, left - 1);
                Requests++;
                ForcedGiven++;
                return fault;
            }
            return null;
        }
    }

    internal void CountDenied()
    {
        lock (_gate) Requests++;
    }

    /// <summary>Conditional creates answered 412.</summary>
    public int Refused { get; private set; }

    /// <summary>Reseeds the random choice.</summary>
    public void Seed(int seed)
    {
        lock (_gate) _random = new Random(seed);
    }

    /// <summary>How often each fault was injected.</summary>
    public IReadOnlyDictionary<Fault, int> Injected
    {
        get { lock (_gate) return new Dictionary<Fault, int>(_counts); }
    }

    internal Fault Next(bool hasBody)
    {
        lock (_gate)
        {
            Requests++;
            if (Rate <= 0 || _random.NextDouble() >= Rate) return Fault.None;
            var kinds = hasBody ? Kinds : Kinds.Where(k => k != Fault.TruncateRequest).ToArray();
            if (kinds.Length == 0) return Fault.None;
            var fault = kinds[_random.Next(kinds.Length)];
            _counts[fault] = _counts.GetValueOrDefault(fault) + 1;
            return fault;
        }
    }

    internal bool TakeRefusal()
    {
        lock (_gate)
        {
            if (RefuseConditionalCreates <= 0) return false;
            RefuseConditionalCreates--;
            Refused++;
            return true;
        }
    }
}
