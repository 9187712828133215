using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using SpotCheckpoint.Diagnostics;

namespace HostedTrainer;

/// <summary>
/// Exports the SpotCheckpoint meter through OpenTelemetry (OTLP) when an endpoint is configured with the standard
/// variables (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c> or <c>OTEL_EXPORTER_OTLP_METRICS_ENDPOINT</c>; the exporter also
/// reads <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, <c>OTEL_EXPORTER_OTLP_HEADERS</c>, <c>OTEL_METRIC_EXPORT_INTERVAL</c>,
/// <c>OTEL_SERVICE_NAME</c>, <c>OTEL_RESOURCE_ATTRIBUTES</c>). Off otherwise: nothing is sent anywhere by default.
/// docs/grafana/spotcheckpoint-dashboard.json shows the result.
/// </summary>
internal static class Telemetry
{
    public static IServiceCollection AddOpenTelemetryWhenConfigured(this IServiceCollection services, IConfiguration configuration)
    {
        if (string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]) && string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]))
            return services;
        services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(SpotCheckpointMetrics.MeterName).AddOtlpExporter());
        return services;
    }
}
