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

    /// <summary>Requests seen.</summary>
    public int Requests { get; private set; }

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
