namespace SpotCheckpoint.Notices.Azure;

/// <summary>Options of the Azure Scheduled Events source (<see cref="NoticeOptionsExtensions.UseAzureScheduledEvents"/>).</summary>
public sealed class AzureScheduledEventsOptions
{
    /// <summary>
    /// The IMDS base URL. Azure has no standard variable for it; SpotCheckpoint reads this one (tests, emulators).
    /// </summary>
    public const string EndpointVariable = "SPOTCHECKPOINT_AZURE_METADATA_ENDPOINT";

    /// <summary>The IMDS endpoint. Default: <c>SPOTCHECKPOINT_AZURE_METADATA_ENDPOINT</c> when set, else <c>http://169.254.169.254</c>.</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>This VM's name, as events list it in Resources. Default: read from IMDS (<c>compute/name</c>).</summary>
    public string? VmName { get; set; }

    /// <summary>How often Scheduled Events is polled. Default 1 s, as Azure advises.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Timeout of each request after the first. Default 5 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The first Scheduled Events call after boot can take up to two minutes while the service starts. Default 150 s.</summary>
    public TimeSpan FirstRequestTimeout { get; set; } = TimeSpan.FromSeconds(150);

    /// <summary>The deadline of a terminating event without a NotBefore (already Started): seen + this. Default 30 s.</summary>
    public TimeSpan DefaultWindow { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Approve the event (POST StartRequests) once the emergency checkpoint has committed, so the VM goes at once
    /// instead of idling until NotBefore. Approving starts the event for every VM it lists and for every process on
    /// this VM: with several trainers on one VM (one process per GPU), set it to false in all of them, or leave it
    /// true in just one process that is the last to checkpoint. Default true.
    /// </summary>
    public bool ApproveAfterCheckpoint { get; set; } = true;

    /// <summary>
    /// Also approve events that list other VMs besides this one (approval would start the event for them too, in
    /// the middle of their own work). Off by default: such an event is left to start at NotBefore.
    /// </summary>
    public bool ApproveEventsListingOtherVms { get; set; }

    /// <summary>The longest wait between retries after failures (410, 429, 500, no reply). Default 30 s.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(30);

    internal Uri ResolveEndpoint() => MetadataHttp.Resolve(Endpoint, EndpointVariable, MetadataHttp.LinkLocal);
}
