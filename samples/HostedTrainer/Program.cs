using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SpotCheckpoint.Hosting;
using HostedTrainer;

// Configuration: appsettings.json (next to the program), then environment variables (SpotCheckpoint__RunId=…,
// Training__Steps=…), then the command line (--SpotCheckpoint:RunId=…). Relative paths are relative to the working
// directory.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });

// SpotCheckpoint from the "SpotCheckpoint" section, validated at start-up; host shutdown (SIGTERM, Ctrl-C) becomes a
// termination notice announcing the host's shutdown timeout ("ShutdownTimeoutSeconds" in appsettings.json), which is
// how long the host waits for the emergency checkpoint to commit.
// The store providers: SpotCheckpoint:Location may be a path, s3://, gs://, az:// or an https:// blob account; each
// provider's options come from its "Stores:…" section (endpoint, encryption, part size, …), its credentials from
// the SDK's usual environment (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_CONNECTION_STRING or managed identity).
builder.Services.AddSpotCheckpoint(builder.Configuration)
    .UseS3Store(builder.Configuration.GetSection("Stores:S3"))
    .UseGcsStore(builder.Configuration.GetSection("Stores:Gcs"))
    .UseAzureBlobStore(builder.Configuration.GetSection("Stores:AzureBlob"));

// Metrics through OpenTelemetry (OTLP), only when OTEL_EXPORTER_OTLP_ENDPOINT is set (Telemetry.cs).
builder.Services.AddOpenTelemetryWhenConfigured(builder.Configuration);

builder.Services.Configure<TrainingOptions>(builder.Configuration.GetSection("Training"));
builder.Services.AddHostedService<TrainingService>();

await builder.Build().RunAsync();
return Environment.ExitCode;
