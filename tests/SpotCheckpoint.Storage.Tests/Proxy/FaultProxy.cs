using SpotCheckpoint.Storage;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace SpotCheckpoint.Storage.Tests.Proxy;

/// <summary>
/// An HTTP proxy on 127.0.0.1 between a store's SDK and its emulator that injects faults (<see cref="FaultPlan"/>):
/// resets, 503 SlowDown, 500, truncated bodies both ways, delays, and 412 answers to conditional creates; forced
/// faults and answers for matching requests, 403 to everything (<see cref="FaultPlan.DenyAccess"/>), and the answers
/// of an SSE-KMS bucket (<see cref="FaultPlan.KmsBucket"/>).
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private static readonly HashSet<string> HopHeaders = new(StringComparer.OrdinalIgnoreCase)
        { "Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Proxy-Connection", "Expect", "Host" };

    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private readonly Uri _target;
    private readonly KmsAnswers _kms = new();

    private FaultProxy(WebApplication app, Uri target)
    {
        _app = app;
        _target = target;
        _upstream = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
        }) { Timeout = Timeout.InfiniteTimeSpan };
    }

    /// <summary>The plan in force; change it at any time.</summary>
    public FaultPlan Plan { get; } = new();

    /// <summary>The proxy's address, such as <c>http://127.0.0.1:41234</c>.</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>Starts a proxy forwarding to <paramref name="target"/> (scheme, host and port).</summary>
    public static async Task<FaultProxy> StartAsync(Uri target)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, 0);
            k.Limits.MaxRequestBodySize = null;
            k.Limits.MinRequestBodyDataRate = null;
        });
        var app = builder.Build();
        var proxy = new FaultProxy(app, target);
        app.Run(proxy.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        proxy.Address = new Uri(address);
        return proxy;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        if (IsConditionalCreate(request) && Plan.TakeRefusal())
        {
            await DrainAsync(request);
            context.Response.StatusCode = StatusCodes.Status412PreconditionFailed;
            context.Response.ContentType = "application/xml";
            await context.Response.WriteAsync("<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>");
            return;
        }

        if (Plan.DenyAccess)
        {
            Plan.CountDenied();
            await DrainAsync(request);
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            context.Response.ContentType = "application/xml";
            await context.Response.WriteAsync("<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
            return;
        }

        if (Plan.TakeAnswer(request.Method, request.Path.ToUriComponent() + request.QueryString.ToUriComponent()) is { } answer)
        {
            await DrainAsync(request);
            context.Response.StatusCode = answer.Status;
            context.Response.ContentType = "application/xml";
            await context.Response.WriteAsync($"<Error><Code>{answer.Code}</Code><Message>{answer.Code}</Message></Error>");
            return;
        }

        bool hasBody = request.ContentLength > 0;
        // The checkpointer's start-up probe passes untouched: these tests are about checkpoint objects, and a faulted
        // probe would (rightly) stop the run before its first step.
        var fault = Uri.UnescapeDataString(request.Path.ToUriComponent() + request.QueryString.ToUriComponent()).Contains(ICheckpointStore.ProbeObjectPrefix, StringComparison.Ordinal)
            ? Fault.None
            : Plan.TakeForced(request.Method, request.Path.ToUriComponent() + request.QueryString.ToUriComponent()) ?? Plan.Next(hasBody);
        switch (fault)
        {
            case Fault.ResetBeforeStore:
                context.Abort();
                return;
            case Fault.Throttle:
                await DrainAsync(request);
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                context.Response.ContentType = "application/xml";
                await context.Response.WriteAsync("<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>");
                return;
            case Fault.ServerError:
                await DrainAsync(request);
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                context.Response.ContentType = "application/xml";
                await context.Response.WriteAsync("<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>");
                return;
            case Fault.Delay:
                await Task.Delay(Plan.Delay);
                break;
        }

        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(_target, request.Path.ToUriComponent() + request.QueryString.ToUriComponent()));
        if (hasBody || request.Headers.TransferEncoding.Count > 0)
        {
            if (Plan.KmsBucket && KmsAnswers.ListsETags(request.Method, request.QueryString.Value ?? ""))
            {
                using var reader = new StreamReader(request.Body);
                forward.Content = new StringContent(_kms.RevealBody(await reader.ReadToEndAsync()), System.Text.Encoding.UTF8, "application/xml");
            }
            else if (fault == Fault.TruncateRequest)
            {
                using var buffer = new MemoryStream();
                await request.Body.CopyToAsync(buffer);
                forward.Content = new ByteArrayContent(buffer.GetBuffer(), 0, (int)(buffer.Length / 2));
            }
            else
            {
                forward.Content = new StreamContent(request.Body);
                if (request.ContentLength is { } length) forward.Content.Headers.ContentLength = length;
            }
        }
        bool rewritten = Plan.KmsBucket && KmsAnswers.ListsETags(request.Method, request.QueryString.Value ?? "");
        foreach (var (name, values) in request.Headers)
        {
            if (HopHeaders.Contains(name) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) continue;
            if (rewritten && (name.Equals("Content-MD5", StringComparison.OrdinalIgnoreCase) || name.StartsWith("x-amz-checksum", StringComparison.OrdinalIgnoreCase) ||
                              name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))) continue;
            if (!forward.Headers.TryAddWithoutValidation(name, values.ToArray()))
                forward.Content?.Headers.TryAddWithoutValidation(name, values.ToArray());
        }
        // Keep the client's Host: emulators build URLs (such as resumable-session locations) from it.
        forward.Headers.Host = request.Host.Value;

        HttpResponseMessage response;
        try
        {
            response = await _upstream.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        }
        catch (Exception) when (context.RequestAborted.IsCancellationRequested)
        {
            return;
        }
        using (response)
        {
            if (fault == Fault.ResetAfterStore)
            {
                await response.Content.CopyToAsync(Stream.Null);
                context.Abort();
                return;
            }
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (HopHeaders.Contains(name)) continue;
                context.Response.Headers[name] = values.ToArray();
            }
            var body = await response.Content.ReadAsByteArrayAsync();
            if (Plan.KmsBucket && response.IsSuccessStatusCode)
            {
                if (context.Response.Headers.ETag.Count > 0) context.Response.Headers.ETag = _kms.Disguise(context.Response.Headers.ETag.ToString());
                context.Response.Headers[KmsAnswers.EncryptionHeader] = "aws:kms";
                var text = response.Content.Headers.ContentType?.MediaType?.Contains("xml", StringComparison.OrdinalIgnoreCase) == true
                    ? System.Text.Encoding.UTF8.GetString(body) : "";
                if (text.Contains("<ETag>", StringComparison.Ordinal))
                {
                    body = System.Text.Encoding.UTF8.GetBytes(_kms.DisguiseBody(text));
                    context.Response.ContentLength = body.Length;
                }
            }
            if (fault == Fault.TruncateResponse && body.Length > 0)
            {
                context.Response.ContentLength = body.Length;
                await context.Response.Body.WriteAsync(body.AsMemory(0, body.Length / 2));
                await context.Response.Body.FlushAsync();
                context.Abort();
                return;
            }
            if (fault == Fault.TruncateResponse)
            {
                context.Abort();
                return;
            }
            if (response.Content.Headers.ContentLength is null && body.Length > 0) context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body);
        }
    }

    private static bool IsConditionalCreate(HttpRequest request) =>
        request.Headers.IfNoneMatch == "*" ||
        (request.Query.TryGetValue("ifGenerationMatch", out var generation) && generation == "0");

    private static async Task DrainAsync(HttpRequest request) => await request.Body.CopyToAsync(Stream.Null);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
    }
}
