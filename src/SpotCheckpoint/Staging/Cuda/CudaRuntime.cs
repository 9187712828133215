using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SpotCheckpoint.Staging.Cuda;

// One file on purpose (over 300 lines): it is one binding table. The wrappers, the Api struct of function pointers
// and Bind must list the same exports, and they share one library-loading rule (Load/Candidates); kept together
// so that adding an entry point touches one file and the three lists are read side by side.
/// <summary>
/// A minimal binding to the CUDA runtime (cudart), loaded only on demand with <see cref="NativeLibrary"/> so that
/// nothing in a CPU-only process ever needs CUDA. Exports are resolved once into unmanaged function pointers; every
/// wrapper checks the returned <c>cudaError_t</c> and throws an <see cref="InvalidOperationException"/> that names
/// the function and carries <c>cudaGetErrorString</c>'s text.
/// </summary>
/// <remarks>
/// The library searched for, in order: a cudart that the process has already loaded (libtorch_cuda's own copy, so
/// that both share one runtime instance), cudart files beside an already-loaded libtorch_cuda, the folders of
/// <c>CUDA_PATH</c> and <c>CUDA_HOME</c>, then the plain sonames through the system's library search
/// (LD_LIBRARY_PATH, the ldconfig cache; PATH on Windows). Streams, events and device pointers belong to the
/// driver's primary context, so they are interchangeable between two cudart copies in one process.
/// </remarks>
internal static unsafe class CudaRuntime
{
    /// <summary>cudaSuccess.</summary>
    public const int Success = 0;

    /// <summary>cudaErrorNotReady: returned by cudaEventQuery while the recorded work is still running.</summary>
    public const int ErrorNotReady = 600;

    /// <summary>cudaErrorInsufficientDriver: the driver is older than this runtime needs.</summary>
    public const int ErrorInsufficientDriver = 35;

    /// <summary>cudaHostAllocDefault.</summary>
    public const uint HostAllocDefault = 0;

    /// <summary>cudaHostAllocPortable: the pinned memory counts as pinned for every CUDA context, not only the current one.</summary>
    public const uint HostAllocPortable = 1;

    /// <summary>cudaStreamNonBlocking: the stream does not synchronise implicitly with the legacy default stream.</summary>
    public const uint StreamNonBlocking = 1;

    /// <summary>cudaEventDisableTiming: the cheapest kind of event, for ordering and completion only.</summary>
    public const uint EventDisableTiming = 2;

    /// <summary>The legacy default stream (stream 0), where TorchSharp enqueues all of its work.</summary>
    public static readonly IntPtr DefaultStream = IntPtr.Zero;

    /// <summary>Library names tried with the system's search, newest CUDA first.</summary>
    public static IReadOnlyList<string> SonameCandidates { get; } = OperatingSystem.IsWindows()
        ? ["cudart64_13.dll", "cudart64_12.dll", "cudart64_110.dll"]
        : ["libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"];

    private static readonly object Gate = new();
    private static bool _attempted;
    private static string? _failure;
    private static bool _ready;
    private static Api* _api;

    /// <summary>The memory-copy directions of <c>cudaMemcpyKind</c>.</summary>
    public enum MemcpyKind
    {
        /// <summary>cudaMemcpyHostToHost.</summary>
        HostToHost = 0,

        /// <summary>cudaMemcpyHostToDevice.</summary>
        HostToDevice = 1,

        /// <summary>cudaMemcpyDeviceToHost.</summary>
        DeviceToHost = 2,

        /// <summary>cudaMemcpyDeviceToDevice.</summary>
        DeviceToDevice = 3,

        /// <summary>cudaMemcpyDefault: direction inferred from the pointers (unified addressing).</summary>
        Default = 4,
    }

    /// <summary>True when cudart was loaded, all needed exports were found, and at least one device is visible.</summary>
    public static bool IsAvailable => TryLoad(out _);

    /// <summary>The full path or name of the loaded cudart, or null when none is loaded.</summary>
    public static string? LoadedFrom { get; private set; }

    /// <summary>Number of visible devices found while loading (0 when not available).</summary>
    public static int DeviceCountAtLoad { get; private set; }

    /// <summary>Every name and path tried while loading, in order.</summary>
    public static IReadOnlyList<string> Tried { get; private set; } = [];

    /// <summary>
    /// Loads cudart once (later calls return the first answer). Returns false with a human-readable
    /// <paramref name="reason"/> (what was tried, what failed) when CUDA cannot be used in this process.
    /// </summary>
    public static bool TryLoad(out string? reason)
    {
        lock (Gate)
        {
            if (!_attempted)
            {
                _attempted = true;
                _failure = Load();
            }
            reason = _failure;
            return _failure is null;
        }
    }

    /// <summary>The CUDA runtime's version as an integer (e.g. 13000 for 13.0), or 0 when unknown.</summary>
    public static int RuntimeVersion()
    {
        var api = Require();
        int version = 0;
        return api->RuntimeGetVersion != null && api->RuntimeGetVersion(&version) == Success ? version : 0;
    }

    /// <summary>The newest CUDA version the installed driver supports (e.g. 13000), or 0 when unknown.</summary>
    public static int DriverVersion()
    {
        var api = Require();
        int version = 0;
        return api->DriverGetVersion != null && api->DriverGetVersion(&version) == Success ? version : 0;
    }

    /// <summary>cudaGetDeviceCount.</summary>
    public static int GetDeviceCount()
    {
        var api = Require();
        int count;
        Check(api->GetDeviceCount(&count), "cudaGetDeviceCount");
        return count;
    }

    /// <summary>cudaSetDevice: makes <paramref name="device"/> current on the calling thread.</summary>
    public static void SetDevice(int device) => Check(Require()->SetDevice(device), "cudaSetDevice");

    /// <summary>cudaGetDevice: the calling thread's current device.</summary>
    public static int GetDevice()
    {
        var api = Require();
        int device;
        Check(api->GetDevice(&device), "cudaGetDevice");
        return device;
    }

    /// <summary>Makes <paramref name="device"/> current until the returned scope is disposed, then restores the previous one.</summary>
    public static DeviceScope UseDevice(int device)
    {
        int previous = GetDevice();
        if (previous != device) SetDevice(device);
        return new DeviceScope(previous, previous != device);
    }

    /// <summary>cudaMalloc.</summary>
    public static IntPtr Malloc(long bytes)
    {
        var api = Require();
        void* pointer;
        Check(api->Malloc(&pointer, (nuint)bytes), "cudaMalloc", bytes);
        return (IntPtr)pointer;
    }

    /// <summary>cudaFree.</summary>
    public static void Free(IntPtr devicePointer) => Check(Require()->Free((void*)devicePointer), "cudaFree");

    /// <summary>cudaHostAlloc: page-locked host memory, page-aligned.</summary>
    public static byte* HostAlloc(long bytes, uint flags = HostAllocPortable)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        var api = Require();
        void* pointer;
        Check(api->HostAlloc(&pointer, (nuint)Math.Max(bytes, 1), flags), "cudaHostAlloc", bytes);
        return (byte*)pointer;
    }

    /// <summary>cudaFreeHost.</summary>
    public static void FreeHost(void* pointer) => Check(Require()->FreeHost(pointer), "cudaFreeHost");

    /// <summary>cudaFreeHost that reports failure instead of throwing (for Dispose paths and process shutdown).</summary>
    public static bool TryFreeHost(void* pointer) => _api != null && _api->FreeHost(pointer) == Success;

    /// <summary>cudaMemcpy: synchronous with respect to the host for pageable memory and device-to-host copies.</summary>
    public static void Memcpy(void* destination, void* source, long bytes, MemcpyKind kind) =>
        Check(Require()->Memcpy(destination, source, (nuint)bytes, (int)kind), "cudaMemcpy", bytes);

    /// <summary>cudaMemcpyAsync: enqueues a copy on <paramref name="stream"/>; truly asynchronous only with pinned host memory.</summary>
    public static void MemcpyAsync(void* destination, void* source, long bytes, MemcpyKind kind, IntPtr stream) =>
        Check(Require()->MemcpyAsync(destination, source, (nuint)bytes, (int)kind, stream), "cudaMemcpyAsync", bytes);

    /// <summary>cudaMemset on device memory (enqueued on the legacy default stream).</summary>
    public static void Memset(IntPtr devicePointer, int value, long bytes) =>
        Check(Require()->Memset((void*)devicePointer, value, (nuint)bytes), "cudaMemset", bytes);

    /// <summary>cudaStreamCreateWithFlags on the current device.</summary>
    public static IntPtr StreamCreate(uint flags = StreamNonBlocking)
    {
        var api = Require();
        IntPtr stream;
        Check(api->StreamCreateWithFlags(&stream, flags), "cudaStreamCreateWithFlags");
        return stream;
    }

    /// <summary>cudaStreamDestroy.</summary>
    public static void StreamDestroy(IntPtr stream) => Check(Require()->StreamDestroy(stream), "cudaStreamDestroy");

    /// <summary>cudaStreamWaitEvent: work enqueued on <paramref name="stream"/> afterwards waits for the event's recorded work.</summary>
    public static void StreamWaitEvent(IntPtr stream, IntPtr cudaEvent) =>
        Check(Require()->StreamWaitEvent(stream, cudaEvent, 0), "cudaStreamWaitEvent");

    /// <summary>cudaEventCreateWithFlags on the current device.</summary>
    public static IntPtr EventCreate(uint flags = EventDisableTiming)
    {
        var api = Require();
        IntPtr cudaEvent;
        Check(api->EventCreateWithFlags(&cudaEvent, flags), "cudaEventCreateWithFlags");
        return cudaEvent;
    }

    /// <summary>cudaEventRecord: captures the work enqueued on <paramref name="stream"/> so far.</summary>
    public static void EventRecord(IntPtr cudaEvent, IntPtr stream) =>
        Check(Require()->EventRecord(cudaEvent, stream), "cudaEventRecord");

    /// <summary>cudaEventSynchronize: blocks until the recorded work has finished.</summary>
    public static void EventSynchronize(IntPtr cudaEvent) =>
        Check(Require()->EventSynchronize(cudaEvent), "cudaEventSynchronize");

    /// <summary>cudaEventQuery: true when the recorded work has finished, false while it runs.</summary>
    public static bool EventQuery(IntPtr cudaEvent)
    {
        int error = Require()->EventQuery(cudaEvent);
        if (error == ErrorNotReady) return false;
        Check(error, "cudaEventQuery");
        return true;
    }

    /// <summary>cudaEventElapsedTime: milliseconds between two completed timing events (created without <see cref="EventDisableTiming"/>).</summary>
    public static double EventElapsedMilliseconds(IntPtr start, IntPtr end)
    {
        float ms;
        Check(Require()->EventElapsedTime(&ms, start, end), "cudaEventElapsedTime");
        return ms;
    }

    /// <summary>cudaEventDefault: an event that records timing (for <see cref="EventElapsedMilliseconds"/>).</summary>
    public const uint EventDefault = 0;

    /// <summary>cudaEventDestroy.</summary>
    public static void EventDestroy(IntPtr cudaEvent) => Check(Require()->EventDestroy(cudaEvent), "cudaEventDestroy");

    /// <summary>cudaDeviceSynchronize: waits for all work on the current device.</summary>
    public static void DeviceSynchronize() => Check(Require()->DeviceSynchronize(), "cudaDeviceSynchronize");

    /// <summary>cudaGetErrorString, or a generic text when cudart is not loaded.</summary>
    public static string ErrorString(int error)
    {
        if (_api == null) return $"cudaError {error}";
        var text = _api->GetErrorString(error);
        return text == null ? $"cudaError {error}" : Marshal.PtrToStringUTF8((IntPtr)text) ?? $"cudaError {error}";
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> naming <paramref name="function"/> unless <paramref name="error"/> is cudaSuccess.</summary>
    public static void Check(int error, string function)
    {
        if (error != Success) throw new InvalidOperationException($"{function} failed with cudaError {error}: {ErrorString(error)}.");
    }

    private static void Check(int error, string function, long bytes)
    {
        if (error != Success) throw new InvalidOperationException($"{function} ({bytes} bytes) failed with cudaError {error}: {ErrorString(error)}.");
    }

    private static Api* Require()
    {
        if (Volatile.Read(ref _ready)) return _api;
        if (!TryLoad(out var reason)) throw new InvalidOperationException("CUDA is not available: " + reason);
        return _api;
    }

    private static string? Load()
    {
        var tried = new List<string>();
        Tried = tried;
        var failures = new List<string>();
        var seenFiles = new HashSet<string>(StringComparer.Ordinal);
        bool driverTooOld = false;
        foreach (var candidate in Candidates())
        {
            if (tried.Contains(candidate)) continue;
            if (Path.IsPathRooted(candidate) && !seenFiles.Add(RealPath(candidate))) continue; // a symlink to a file already tried
            tried.Add(candidate);
            if (!NativeLibrary.TryLoad(candidate, out var library)) continue;
            var api = (Api*)NativeMemory.AllocZeroed((nuint)sizeof(Api));
            var missing = Bind(library, api);
            if (missing is not null)
            {
                NativeMemory.Free(api);
                NativeLibrary.Free(library);
                failures.Add($"{candidate} lacks the export {missing}");
                continue;
            }
            _api = api;
            LoadedFrom = candidate;
            int count = 0;
            int error = api->GetDeviceCount(&count);
            if (error == ErrorInsufficientDriver)
            {
                // A newer runtime than the driver supports: an older cudart further down the list may still work.
                failures.Add($"{candidate}: {ErrorString(error)} (cudaError {error})");
                driverTooOld = true;
                continue;
            }
            if (error != Success)
                return $"{candidate} loaded, but cudaGetDeviceCount failed with cudaError {error}: {ErrorString(error)} (no NVIDIA driver or no visible GPU).";
            if (count == 0) return $"{candidate} loaded, but it sees no CUDA device.";
            DeviceCountAtLoad = count;
            Volatile.Write(ref _ready, true);
            return null;
        }
        var text = $"no usable CUDA runtime library was found (tried: {string.Join(", ", tried)}).";
        if (failures.Count > 0) text += " " + string.Join("; ", failures) + ".";
        if (driverTooOld) text += " A CUDA runtime was found, but the NVIDIA driver is missing or older than that runtime needs.";
        return text;
    }

    private static string RealPath(string path)
    {
        try
        {
            var target = File.ResolveLinkTarget(path, returnFinalTarget: true);
            return Path.GetFullPath(target?.FullName ?? path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Path.GetFullPath(path);
        }
    }

    /// <summary>Where cudart may be, most specific first.</summary>
    private static IEnumerable<string> Candidates()
    {
        bool windows = OperatingSystem.IsWindows();
        var loaded = LoadedModules();

        // 1. A cudart already in the process (libtorch_cuda's, possibly under a hashed name such as libcudart-1a2b3c4d.so.12).
        foreach (var path in loaded)
        {
            var name = Path.GetFileName(path);
            if (name.StartsWith(windows ? "cudart64_" : "libcudart", StringComparison.OrdinalIgnoreCase)) yield return path;
        }

        // 2. cudart files beside an already-loaded libtorch_cuda.
        foreach (var path in loaded)
        {
            var name = Path.GetFileName(path);
            if (!name.StartsWith(windows ? "torch_cuda" : "libtorch_cuda", StringComparison.OrdinalIgnoreCase)) continue;
            foreach (var file in CudartFilesIn(Path.GetDirectoryName(path))) yield return file;
        }

        // 3. CUDA_PATH / CUDA_HOME.
        foreach (var variable in new[] { "CUDA_PATH", "CUDA_HOME" })
        {
            var root = Environment.GetEnvironmentVariable(variable);
            if (string.IsNullOrWhiteSpace(root)) continue;
            var subfolders = windows ? new[] { "bin", Path.Combine("bin", "x64") } : new[] { "lib64", "lib", Path.Combine("targets", "x86_64-linux", "lib") };
            foreach (var sub in subfolders)
            {
                foreach (var file in CudartFilesIn(Path.Combine(root, sub))) yield return file;
            }
        }

        // 4. The plain names, through the system's search.
        foreach (var name in SonameCandidates) yield return name;
    }

    /// <summary>Cudart files in <paramref name="folder"/>: the known sonames first, then any other cudart file (hashed names).</summary>
    private static IEnumerable<string> CudartFilesIn(string? folder)
    {
        if (string.IsNullOrEmpty(folder) || !Directory.Exists(folder)) yield break;
        foreach (var name in SonameCandidates)
        {
            var path = Path.Combine(folder, name);
            if (File.Exists(path)) yield return path;
        }
        string[] others;
        try
        {
            others = Directory.GetFiles(folder, OperatingSystem.IsWindows() ? "cudart64_*.dll" : "libcudart*.so*");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            yield break;
        }
        Array.Sort(others, StringComparer.Ordinal);
        Array.Reverse(others); // newer versions sort later
        foreach (var path in others) yield return path;
    }

    private static List<string> LoadedModules()
    {
        var paths = new List<string>();
        try
        {
            if (OperatingSystem.IsLinux() && File.Exists("/proc/self/maps"))
            {
                foreach (var line in File.ReadLines("/proc/self/maps"))
                {
                    int slash = line.IndexOf('/', StringComparison.Ordinal);
                    if (slash < 0) continue;
                    var path = line[slash..].Trim();
                    if (!paths.Contains(path)) paths.Add(path);
                }
            }
            else
            {
                using var process = Process.GetCurrentProcess();
                foreach (ProcessModule module in process.Modules)
                {
                    if (!string.IsNullOrEmpty(module.FileName)) paths.Add(module.FileName);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            // Best effort: the plain names are still tried.
        }
        return paths;
    }

    /// <summary>Fills <paramref name="api"/>; returns the first missing required export, or null.</summary>
    private static string? Bind(IntPtr library, Api* api)
    {
        string? missing = null;

        IntPtr Get(string name)
        {
            if (NativeLibrary.TryGetExport(library, name, out var address)) return address;
            missing ??= name;
            return IntPtr.Zero;
        }

        api->GetDeviceCount = (delegate* unmanaged<int*, int>)Get("cudaGetDeviceCount");
        api->SetDevice = (delegate* unmanaged<int, int>)Get("cudaSetDevice");
        api->GetDevice = (delegate* unmanaged<int*, int>)Get("cudaGetDevice");
        api->Malloc = (delegate* unmanaged<void**, nuint, int>)Get("cudaMalloc");
        api->Free = (delegate* unmanaged<void*, int>)Get("cudaFree");
        api->HostAlloc = (delegate* unmanaged<void**, nuint, uint, int>)Get("cudaHostAlloc");
        api->FreeHost = (delegate* unmanaged<void*, int>)Get("cudaFreeHost");
        api->Memcpy = (delegate* unmanaged<void*, void*, nuint, int, int>)Get("cudaMemcpy");
        api->MemcpyAsync = (delegate* unmanaged<void*, void*, nuint, int, IntPtr, int>)Get("cudaMemcpyAsync");
        api->Memset = (delegate* unmanaged<void*, int, nuint, int>)Get("cudaMemset");
        api->StreamCreateWithFlags = (delegate* unmanaged<IntPtr*, uint, int>)Get("cudaStreamCreateWithFlags");
        api->StreamDestroy = (delegate* unmanaged<IntPtr, int>)Get("cudaStreamDestroy");
        api->StreamWaitEvent = (delegate* unmanaged<IntPtr, IntPtr, uint, int>)Get("cudaStreamWaitEvent");
        api->EventCreateWithFlags = (delegate* unmanaged<IntPtr*, uint, int>)Get("cudaEventCreateWithFlags");
        api->EventRecord = (delegate* unmanaged<IntPtr, IntPtr, int>)Get("cudaEventRecord");
        api->EventSynchronize = (delegate* unmanaged<IntPtr, int>)Get("cudaEventSynchronize");
        api->EventQuery = (delegate* unmanaged<IntPtr, int>)Get("cudaEventQuery");
        api->EventDestroy = (delegate* unmanaged<IntPtr, int>)Get("cudaEventDestroy");
        api->EventElapsedTime = (delegate* unmanaged<float*, IntPtr, IntPtr, int>)Get("cudaEventElapsedTime");
        api->DeviceSynchronize = (delegate* unmanaged<int>)Get("cudaDeviceSynchronize");
        api->GetErrorString = (delegate* unmanaged<int, byte*>)Get("cudaGetErrorString");

        // Optional: only used for reporting.
        api->RuntimeGetVersion = NativeLibrary.TryGetExport(library, "cudaRuntimeGetVersion", out var rv) ? (delegate* unmanaged<int*, int>)rv : null;
        api->DriverGetVersion = NativeLibrary.TryGetExport(library, "cudaDriverGetVersion", out var dv) ? (delegate* unmanaged<int*, int>)dv : null;
        return missing;
    }

    /// <summary>Restores the previously current device when disposed.</summary>
    public readonly struct DeviceScope : IDisposable
    {
        private readonly int _previous;
        private readonly bool _restore;

        internal DeviceScope(int previous, bool restore)
        {
            _previous = previous;
            _restore = restore;
        }

        /// <summary>Makes the previous device current again.</summary>
        public void Dispose()
        {
            if (_restore) SetDevice(_previous);
        }
    }

    /// <summary>The resolved entry points (allocated once in native memory, never freed while loaded).</summary>
    private struct Api
    {
        public delegate* unmanaged<int*, int> GetDeviceCount;
        public delegate* unmanaged<int, int> SetDevice;
        public delegate* unmanaged<int*, int> GetDevice;
        public delegate* unmanaged<void**, nuint, int> Malloc;
        public delegate* unmanaged<void*, int> Free;
        public delegate* unmanaged<void**, nuint, uint, int> HostAlloc;
        public delegate* unmanaged<void*, int> FreeHost;
        public delegate* unmanaged<void*, void*, nuint, int, int> Memcpy;
        public delegate* unmanaged<void*, void*, nuint, int, IntPtr, int> MemcpyAsync;
        public delegate* unmanaged<void*, int, nuint, int> Memset;
        public delegate* unmanaged<IntPtr*, uint, int> StreamCreateWithFlags;
        public delegate* unmanaged<IntPtr, int> StreamDestroy;
        public delegate* unmanaged<IntPtr, IntPtr, uint, int> StreamWaitEvent;
        public delegate* unmanaged<IntPtr*, uint, int> EventCreateWithFlags;
        public delegate* unmanaged<IntPtr, IntPtr, int> EventRecord;
        public delegate* unmanaged<IntPtr, int> EventSynchronize;
        public delegate* unmanaged<IntPtr, int> EventQuery;
        public delegate* unmanaged<IntPtr, int> EventDestroy;
        public delegate* unmanaged<float*, IntPtr, IntPtr, int> EventElapsedTime;
        public delegate* unmanaged<int> DeviceSynchronize;
        public delegate* unmanaged<int, byte*> GetErrorString;
        public delegate* unmanaged<int*, int> RuntimeGetVersion;
        public delegate* unmanaged<int*, int> DriverGetVersion;
    }
}
