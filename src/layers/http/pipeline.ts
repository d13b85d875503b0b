/**
 * The request pipeline that every request passes, matched or not:
 *
 *   the client's address (behind a trusted proxy, the one it forwarded: forwarded.ts) →
 *   correlation id (accepted or generated, echoed, on logs and spans; W3C traceparent is
 *   honoured by the server span) → CORS → API key (X-API-Key or Bearer; SHA-256 compared,
 *   never logged; the caller published as CurrentPrincipal) and the scope the path needs →
 *   rate limit per key (RateLimit-* headers, 429 + Retry-After) → body limit → route, whose
 *   own middleware asks for its scope again (accessLayer) → every error as
 *   application/problem+json (never a stack) → metrics.
 */
import { randomUUID } from "node:crypto"
import { ByteSize, Context, Effect, LogLevel, References, Tracer } from "effect"
import { HttpIncomingMessage, HttpMiddleware, HttpServerRequest, HttpServerResponse, UrlParams } from "effect/http"
import { CORRELATION_ID } from "../../domain/api/params.ts"
import { CurrentConnectionOwner } from "../duckdb/DuckDb.ts"
import { answeredWhileDraining, Draining } from "./draining.ts"
import { normalize, toProblemResponse } from "./escapedFailures.ts"
import { behindProxies } from "./forwarded.ts"
import { CurrentRequest, type HandlerOptions, type RequestInfo } from "./handlerContext.ts"
import { authenticator, clientAddress, CurrentPrincipal, refusal } from "./principal.ts"
import { RateLimiter } from "./rateLimiter.ts"
import { durationOf, requestsOf, routeOf } from "./requestMetrics.ts"
import { problem } from "./respond.ts"
import { pathOf, scopesOf } from "./routePaths.ts"
import { queryRefusal } from "./routeTable.ts"

/**
 * A request asking to upgrade its connection (served as any request: nodeHttpServer) leaves Node's
 * parser reading the rest of the connection as the other protocol: a next request on it went
 * unanswered until the connection idled out. Its answer closes the connection instead.
 */
const upgradeCloses = (request: HttpServerRequest.HttpServerRequest) => request.headers["upgrade"] !== undefined

/** Wraps the router: the pipeline described at the top of this file. */
export const pipeline = (options: HandlerOptions) => {
  const authenticate = authenticator(options)
  // Keys are as many as K2_API_KEYS lists, addresses without end: in one limiter, requests from
  // 100,000 addresses (one IPv6 client) forgot a key's count, so its holder could start afresh.
  // A key's window is forgotten only once its period is over.
  const byKey = new RateLimiter(options.rateLimit, options.rateWindowSeconds, Math.max(1, options.keys.length))
  const byAddress = new RateLimiter(options.rateLimit, options.rateWindowSeconds)
  const anyOrigin = options.corsOrigins.includes("*")
  const maxBody = ByteSize.bytes(options.maxBodyBytes)
  const forwarded = behindProxies(options)

  return <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.withFiber((fiber) => {
      const received = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      // Behind a trusted proxy, the client it names (forwarded.ts): what every per-address rule counts.
      const request = forwarded(received)
      const started = performance.now()
      const given = request.headers["x-correlation-id"]
      const correlationId = given !== undefined && CORRELATION_ID.test(given) ? given : randomUUID()
      const pathname = pathOf(request.url)
      const extra: Record<string, string> = { "x-correlation-id": correlationId, "x-content-type-options": "nosniff" }

      // CORS
      const origin = request.headers["origin"]
      if (origin !== undefined && (anyOrigin || options.corsOrigins.includes(origin))) {
        extra["access-control-allow-origin"] = anyOrigin ? "*" : origin
        extra["access-control-expose-headers"] =
          "ETag, X-Correlation-ID, K2-Snapshot-Ids, K2-Next-Cursor, Link, K2-Truncated, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, Retry-After, " +
          // Not safelisted either: a script read null for a Parquet answer's file name and a 401's schemes.
          "Content-Disposition, WWW-Authenticate"
      }
      // The answer differs by Origin (allowed or not): said on every answer, so a cache keeps them apart.
      if (!anyOrigin && options.corsOrigins.length > 0) extra["vary"] = "Origin"

      const principal = authenticate(request.headers)
      const info: RequestInfo = { correlationId, caller: principal._tag === "Key" ? `key:${principal.name}` : clientAddress(request) }
      const draining = fiber.getRef(Draining)
      /** The answer of the checks before the route (a preflight, 401, 403, 429, 413), or undefined to route. */
      const gate = (): HttpServerResponse.HttpServerResponse | undefined => {
        // Stopping: the listening socket is closed, but a kept-alive connection still brings requests.
        // /ready says so (a load balancer probing on such a connection kept the server in rotation
        // with 200s); the rest are sent to another server, over a new connection.
        if (draining.now() && !answeredWhileDraining(pathname)) {
          const detail = pathname === "/ready" ? "not ready: the server is stopping" : "the server is stopping: send the request again (another server answers it)"
          return problem(503, "draining", detail, correlationId, { "retry-after": "5", connection: "close" })
        }
        if (request.method === "OPTIONS" && origin !== undefined && extra["access-control-allow-origin"] !== undefined) {
          return HttpServerResponse.empty({
            status: 204,
            headers: {
              "access-control-allow-methods": "GET, POST, OPTIONS",
              "access-control-allow-headers": "Authorization, X-API-Key, X-Correlation-ID, Content-Type, If-None-Match, Last-Event-ID, traceparent, tracestate",
              "access-control-max-age": "600"
            }
          })
        }
        // The router ends a path at `;` or `#` and reads its query from there, not from `?`: the
        // handler's query would not be the one the ETag (and the body cache) is keyed by. No route has either.
        if (/[;#]/.test(pathname)) return problem(404, "not_found", "no such route", correlationId)
        const address = clientAddress(request)
        /** Counts the request against its key's window (its address's when anonymous): the RateLimit-* headers, and the 429 past it. */
        const limited = () => {
          const r = principal._tag === "Key" ? byKey.hit(principal.name, Date.now()) : byAddress.hit(address, Date.now())
          extra["ratelimit-limit"] = String(r.limit)
          extra["ratelimit-remaining"] = String(r.remaining)
          extra["ratelimit-reset"] = String(r.reset)
          extra["ratelimit-policy"] = `${r.limit};w=${options.rateWindowSeconds}`
          return r.allowed ? undefined : problem(429, "rate_limited", `more than ${r.limit} requests in ${options.rateWindowSeconds} s`, correlationId, {
            "retry-after": String(r.reset)
          })
        }
        // A first line before the body is read (the route checks again; see accessLayer): the
        // scopes the path needs however the router reads it, asked of the caller.
        const scopes = scopesOf(pathname, options.metricsRequireKey)
        if (scopes.size > 0) {
          // Every answer of a keyed route is counted, refusals too (a route's own 403 is): without
          // a valid key per client address, so keys cannot be guessed without end.
          const over = limited()
          if (over !== undefined) return over
          for (const scope of scopes) {
            const refused = refusal(principal, scope, correlationId)
            if (refused !== undefined) return refused
          }
        }
        const declared = Number(request.headers["content-length"] ?? "0")
        if (Number.isFinite(declared) && declared > options.maxBodyBytes) {
          return problem(413, "body_too_large", `the body is larger than ${options.maxBodyBytes} bytes`, correlationId, { connection: "close" })
        }
        return queryRefusal(request.method, request.url, correlationId)
      }

      // A server span exists when an exporter is configured (the server made it); without one, a
      // caller's traceparent still gets one, so that the request's logs carry the caller's trace id.
      const exporting = fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer
      const continuing = !exporting && request.headers["traceparent"] !== undefined
      let respond: Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, R> = Effect.suspend(() => {
        const early = gate()
        return early !== undefined ? Effect.succeed(early) : app.pipe(
          (routed) => request === received ? routed : Effect.provideService(routed, HttpServerRequest.HttpServerRequest, request),
          Effect.provideService(CurrentRequest, info),
          Effect.provideService(CurrentPrincipal, principal),
          // Its reads wait for a DuckDB connection in its caller's line (ADR-100); a streamed
          // body's reads are given it by their route (the body runs after this context is gone).
          Effect.provideService(CurrentConnectionOwner, info.caller),
          Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBody),
          // The server span's redaction (traceRedaction) is not its handler's: a REST catalog call's
          // client span keeps its query's values.
          Effect.provideService(UrlParams.CurrentRedactedNames, UrlParams.CurrentRedactedNames.defaultValue())
        )
      }).pipe(
        Effect.catchCause((cause) => toProblemResponse(cause, correlationId, options.maxBodyBytes, request.url)),
        // Outside the catch: its "unhandled failure" line is the one an operator looks up by the id of a 500.
        Effect.annotateLogs({ correlation_id: correlationId })
      )
      if (exporting || continuing) respond = Effect.annotateSpans(respond, { "k2.correlation_id": correlationId })

      const finish = Effect.flatMap(respond, (response) => {
        const final = normalize(response, correlationId)
        const label = routeOf(request.method, request.url)
        const status = String(final.status)
        const seconds = (performance.now() - started) / 1000
        const context = fiber.context
        requestsOf(label, request.method, status).updateUnsafe(1, context)
        durationOf(label).updateUnsafe(seconds, context)
        // Setting Vary would drop the route's (Accept, Accept-Encoding, the key headers): joined.
        const vary = final.headers["vary"]
        // Stopping: the connection is closed after this answer, so that the drain waits on no idle one
        // and the client's next request finds a server that is not stopping.
        if (draining.now() || upgradeCloses(request)) extra["connection"] = "close"
        const out = HttpServerResponse.setHeaders(final, vary === undefined || extra["vary"] === undefined ? extra : { ...extra, vary: `${vary}, ${extra["vary"]}` })
        // The access log (K2_LOG_LEVEL=debug), inside the server span: correlation and trace ids together.
        return LogLevel.isGreaterThan(fiber.getRef(References.MinimumLogLevel), "Debug")
          ? Effect.succeed(out)
          : Effect.as(
            Effect.logDebug(`${request.method} ${pathname.slice(0, 200)} ${status}`).pipe(
              Effect.annotateLogs({
                correlation_id: correlationId,
                route: label,
                duration_ms: Math.round(seconds * 1000),
                // The client (behind a trusted proxy, the one it names), and the key's name when one was given.
                client: request.remoteAddress._tag === "Some" ? request.remoteAddress.value : "unknown",
                ...(principal._tag === "Key" ? { key: principal.name } : {})
              })
            ),
            out
          )
      })
      return continuing ? HttpMiddleware.tracer(finish) : finish
    })
}
