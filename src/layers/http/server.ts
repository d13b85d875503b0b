/**
 * The HTTP server: `Api` routes (+ `/openapi.json`, `/docs`) behind one request pipeline
 * that every request passes, matched or not:
 *
 *   the client's address (behind a trusted proxy, the one it forwarded: forwarded.ts) →
 *   correlation id (accepted or generated, echoed, on logs and spans; W3C traceparent is
 *   honoured by the server span) → CORS → API key (X-API-Key or Bearer; SHA-256 compared,
 *   never logged; the caller published as CurrentPrincipal) and the scope the path needs →
 *   rate limit per key (RateLimit-* headers, 429 + Retry-After) → body limit → route, whose
 *   own middleware asks for its scope again (accessLayer) → every error as
 *   application/problem+json (never a stack) → metrics.
 */
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http"
import { createServer as createSecureServer } from "node:https"
import type { Duplex } from "node:stream"
import { randomUUID } from "node:crypto"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { ByteSize, Cause, Context, Effect, Layer, LogLevel, Metric, Redacted, References, SchemaAST, Tracer } from "effect"
import { FindMyWay, HttpIncomingMessage, HttpMiddleware, HttpRouter, HttpServer, HttpServerError, HttpServerRequest, HttpServerResponse, UrlParams } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiError, HttpApiScalar } from "effect/http-api"
import { Api, MetricsAccess, ReadAccess, ReplayAccess, requestHeadBytes, SqlAccess } from "../../domain/api/Api.ts"
import { CORRELATION_ID } from "../../domain/api/params.ts"
import { percentDecoded } from "../../domain/percentDecode.ts"
import { formatTraceparent, parseTraceparent } from "../../domain/traceContext.ts"
import { defaults, type Scope, type ServerOptions, type ServerTls } from "./config.ts"
import { CurrentConnectionOwner } from "../duckdb/DuckDb.ts"
import { behindProxies } from "./forwarded.ts"
import { CurrentRequest, groupsLayer, type HandlerOptions, type RequestInfo } from "./handlers.ts"
import { authenticator, clientAddress, CurrentPrincipal, refusal } from "./principal.ts"
import { problem, problemBody, sweepStaleTempDirs } from "./respond.ts"

// --- metrics (the process-wide Effect registry; /metrics renders it) ----------------------

const requests = Metric.counter("k2_http_requests_total", { description: "HTTP requests by route, method and status" })
const duration = Metric.histogram("k2_http_request_duration_seconds", {
  description: "HTTP request latency (time to the response head)",
  boundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
})

const ROUTES = [
  "/v1/trades/with-quotes", "/v1/trades", "/v1/quotes/bars", "/v1/quotes", "/v1/bars", "/v1/summary", "/v1/symbols",
  "/v1/instruments", "/v1/snapshots", "/v1/stats", "/v1/replay", "/v1/sql", "/health", "/ready", "/metrics", "/openapi.json", "/docs"
]
/** A bounded route label: the known route the path starts with, else "other". */
const routeLabel = (pathname: string) => ROUTES.find((r) => pathname === r || pathname.startsWith(`${r}/`)) ?? "other"

/**
 * The request metrics' route: the one the router matches by any method it answers (it ignores case
 * and merges repeated slashes: `/V1/replay` is the replay), else the known route the path starts with.
 */
const routeOf = (method: string, url: string) => {
  const found = endpoints.find(method === "HEAD" ? "GET" : method, url) ?? endpoints.find("GET", url) ?? endpoints.find("POST", url)
  return routeLabel(found === undefined ? pathOf(url) : found.handler.path)
}

// --- rate limiting: fixed windows per principal --------------------------------------------

/**
 * Fixed windows per principal, at most `capacity` of them. The map is kept in order of each
 * principal's last request (a hit moves it to the end), so the windows of past periods are at
 * its front and are dropped as new principals arrive. Past `capacity` principals in one window
 * (an IPv6 client can send each request from another address) the one heard from least
 * recently is forgotten and starts a new count if it returns. Memory stays bounded; the price:
 * a count is lost once `capacity` other principals have been heard from since its last request.
 * So the pipeline keeps keys apart from addresses (see `pipeline`).
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>()
  private readonly limit: number
  private readonly windowMs: number
  private readonly capacity: number
  constructor(limit: number, windowSeconds: number, capacity = 100_000) {
    this.limit = limit
    this.windowMs = windowSeconds * 1000
    this.capacity = capacity
  }
  /** Windows held (for tests). */
  get size() {
    return this.windows.size
  }
  hit(key: string, now: number) {
    const start = now - (now % this.windowMs)
    let w = this.windows.get(key)
    if (w !== undefined) this.windows.delete(key)
    if (w === undefined || w.start !== start) {
      // Each entry is dropped once: amortized constant per request.
      for (const [k, v] of this.windows) {
        if (v.start === start && this.windows.size < this.capacity) break
        this.windows.delete(k)
      }
      w = { start, count: 0 }
    }
    this.windows.set(key, w)
    w.count++
    const reset = Math.max(1, Math.ceil((start + this.windowMs - now) / 1000))
    return { allowed: w.count <= this.limit, limit: this.limit, remaining: Math.max(0, this.limit - w.count), reset }
  }
}

/** Routes anyone may call (`/metrics` unless configured otherwise). */
const PUBLIC = new Set(["/health", "/ready", "/metrics", "/openapi.json", "/docs"])

/**
 * The forms the router may read a path as: it ignores case, merges repeated slashes and decodes
 * percent-escapes, but it resolves no dot segments (an absolute-form target reaches it resolved),
 * so each form is taken both as written and resolved: `/v1/snapshots/x\..\..\..\health` is the
 * snapshots route to it, /health to a URL parser. The scopes are decided on every form, so the
 * pipeline refuses before the body is read what the route would; the route's check is the one
 * that holds if a spelling is still missed here.
 */
const pathForms = (pathname: string): ReadonlyArray<string> => {
  // Not decodable: the raw form alone.
  const decoded = percentDecoded(pathname) ?? pathname
  const trim = (p: string) => p.length > 1 && p.endsWith("/") ? p.slice(0, -1) : p
  return [pathname, decoded].flatMap((p) => {
    const merged = p.toLowerCase().replace(/\/{2,}/g, "/")
    // `/\[` (decoded from `/%5C%5B`) reads as a URL with the host `[`, which new URL throws on:
    // that was a 500. Such a path has no resolved form; the router reads it as written.
    let resolved: string
    try {
      resolved = new URL(merged.startsWith("/") ? merged : `/${merged}`, "http://k2").pathname
    } catch {
      return [trim(merged)]
    }
    return [trim(merged), trim(resolved)]
  })
}

/** The scopes a request needs: none for the public routes, else read, sql or replay by route. */
const scopesOf = (pathname: string, metricsRequireKey: boolean): ReadonlySet<Scope> => {
  const scopes = new Set<Scope>()
  for (const path of pathForms(pathname)) {
    if (path === "/metrics" && metricsRequireKey) scopes.add("metrics")
    else if (PUBLIC.has(path) || path.startsWith("/docs/")) continue
    else if (path.startsWith("/v1/replay")) scopes.add("replay")
    else if (path.startsWith("/v1/sql")) scopes.add("sql")
    else scopes.add("read")
  }
  return scopes
}

const pathOf = (url: string) => {
  const q = url.indexOf("?")
  return q < 0 ? url : url.slice(0, q)
}

/** Per-series handles of the request metrics, made once: labelling a metric per request costs a key build. */
const requestSeries = new Map<string, Metric.Metric<number, unknown>>()
const durationSeries = new Map<string, Metric.Metric<number, unknown>>()
const requestsOf = (route: string, method: string, status: string) => {
  const key = `${route} ${method} ${status}`
  let m = requestSeries.get(key)
  if (m === undefined) requestSeries.set(key, m = Metric.withAttributes(requests, { route, method, status }))
  return m
}
const durationOf = (route: string) => {
  let m = durationSeries.get(route)
  if (m === undefined) durationSeries.set(route, m = Metric.withAttributes(duration, { route }))
  return m
}

/**
 * Whether the server is stopping: its listening socket is closed, requests in flight finish. Set by
 * `nodeServer`; never, where the server is another.
 */
const Draining = Context.Reference<{ readonly now: () => boolean }>("k2/http/Draining", { defaultValue: () => ({ now: () => false }) })

/** The routes a stopping server still answers: a liveness probe that failed would have it killed before its drain ends. */
const answeredWhileDraining = (pathname: string) => pathForms(pathname).every((p) => p === "/health")

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

/**
 * The routes as the router matches them (FindMyWay with its default settings), from the one
 * reflection of `Api`: each route's path and the query parameters its schema declares. The
 * documents (`/openapi.json`, `/docs`) take none.
 */
const { endpoints, declaredQuery } = (() => {
  const router = FindMyWay.make<{ readonly path: string; readonly query: ReadonlyArray<string> }>()
  const declared = new Set<string>()
  HttpApi.reflect(Api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint }) => {
      const ast = endpoint.query?.ast
      const query = ast !== undefined && SchemaAST.isObjects(ast) ? ast.propertySignatures.map((p) => String(p.name)) : []
      query.forEach((name) => declared.add(name))
      router.on(endpoint.method, endpoint.path as FindMyWay.PathInput, { path: endpoint.path, query })
    }
  })
  router.on("GET", "/openapi.json", { path: "/openapi.json", query: [] })
  router.on("GET", "/docs", { path: "/docs", query: [] })
  return { endpoints: router, declaredQuery: [...declared] }
})()

/**
 * The query parameters whose values a server span records (`url.full`, `url.query`, with an
 * exporter): those a route declares. Any other is refused (queryRefusal) and is most often a key
 * put in the URL (`?api_key=`, `?token=`), which the span sent to the trace backend as written:
 * its value is recorded as REDACTED (names match case-sensitively, as the router's do).
 */
const traceRedaction = Layer.succeed(UrlParams.CurrentRedactedNames, [
  ...UrlParams.CurrentRedactedNames.defaultValue(),
  new RegExp(`^(?!(?:${declaredQuery.map((name) => name.replace(/[^A-Za-z0-9_]/g, "\\$&")).join("|")})$)`)
])

/**
 * The methods a path is answered by, for a 405's Allow (RFC 9110 §15.5.6): the router says only
 * that it found no route.
 */
const methodsAt = (url: string): ReadonlyArray<string> => {
  const methods = ["GET", "POST"].filter((m) => endpoints.find(m, url) !== undefined)
  // HEAD is answered as GET; OPTIONS by the pipeline (toProblemResponse).
  return methods.length === 0 ? [] : [...methods.flatMap((m) => m === "GET" ? [m, "HEAD"] : [m]), "OPTIONS"]
}

/**
 * A 400 for query parameters the matched route does not declare: the schemas ignore them, so a
 * typo (`symbol=BHP`, `limt=1`) answered every symbol, or a full page. None is let through, as no
 * handler reads the query past its schema (the next-page Link repeats the request's own query).
 * So is a parameter given empty (`symbols=`, `limit=`): an unset variable in a client's URL
 * template, which read as not given answered every symbol or the default page.
 */
const queryRefusal = (method: string, url: string, correlationId: string) => {
  // The parameters as the router parses them for the route's schema.
  const found = endpoints.find(method === "HEAD" ? "GET" : method, url)
  if (found === undefined) return undefined
  const { path, query } = found.handler
  const unknown = Object.keys(found.searchParams).filter((name) => !query.includes(name))
  if (unknown.length > 0) {
    const names = unknown.slice(0, 5).map((name) => name === "" ? `""` : name.slice(0, 64)).join(", ") + (unknown.length > 5 ? ", ..." : "")
    const takes = query.length === 0 ? "no query parameters" : query.join(", ")
    return problem(400, "bad_request", `unknown query parameter${unknown.length > 1 ? "s" : ""} ${names}; ${path} takes ${takes}`, correlationId)
  }
  const empty = Object.entries(found.searchParams).find(([, value]) => typeof value === "string" && value.trim() === "")
  if (empty === undefined) return undefined
  return problem(400, "bad_request", `${empty[0]} is empty: give it a value, or leave it out for its default`, correlationId)
}

/** Any failure that escaped the handlers: a problem, never a stack trace. Client aborts pass through. */
const toProblemResponse = (cause: Cause.Cause<unknown>, correlationId: string, maxBodyBytes: number, url: string) => {
  if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
  const error = Cause.squash(cause)
  if (HttpServerError.isHttpServerError(error)) {
    const reason = error.reason
    if (reason._tag === "RouteNotFound") {
      const allowed = methodsAt(reason.request.url)
      if (allowed.length === 0) return Effect.succeed(problem(404, "not_found", "no such route", correlationId))
      const allow = allowed.join(", ")
      return Effect.succeed(reason.request.method === "OPTIONS"
        ? HttpServerResponse.empty({ status: 204, headers: { allow } })
        : problem(405, "method_not_allowed", `${reason.request.method} is not answered here; allowed: ${allow}`, correlationId, { allow }))
    }
    if (reason._tag === "RequestParseError") {
      // A body with no length to check up front meets the limit while it is read.
      return Effect.succeed(reason.reason === "BodyTooLarge"
        ? problem(413, "body_too_large", `the body is larger than ${maxBodyBytes} bytes`, correlationId, { connection: "close" })
        : problem(400, "bad_request", "the request could not be read", correlationId))
    }
  }
  if (HttpApiError.HttpApiSchemaError.is(error) && error.kind !== "Body" && error.kind !== "ResponseHeaders") {
    // Every query parameter is one value: a repeated one decodes as a list, which the schema words as `Expected string`.
    const q = url.indexOf("?")
    const names = error.kind === "Query" && q >= 0 ? [...new URLSearchParams(url.slice(q + 1)).keys()] : []
    const repeated = names.find((name, i) => names.indexOf(name) !== i && error.cause.message.includes(JSON.stringify([name])))
    if (repeated !== undefined) {
      const detail = `${repeated} is given more than once: give each parameter once (a list is comma-separated, as in symbols=BHP,CBA)`
      return Effect.succeed(problem(400, "bad_request", detail, correlationId))
    }
    const where = error.kind.toLowerCase()
    const detail = error.cause.message.split("\n").slice(0, 4).join("; ").slice(0, 400)
    return Effect.succeed(problem(400, "bad_request", `invalid ${where}: ${detail}`, correlationId))
  }
  // The cause as the log's `cause` (JSON's field), not pasted into its message.
  return Effect.logError("unhandled failure", cause).pipe(
    Effect.as(problem(500, "internal", "internal error", correlationId))
  )
}

/** Error responses made by the framework (415, 413, 405...) get the same problem body. */
const normalize = (response: HttpServerResponse.HttpServerResponse, correlationId: string) => {
  if (response.status < 400) return response
  const type = response.headers["content-type"] ?? ""
  if (type.startsWith("application/problem+json")) return response
  const code = response.status === 415 ? "unsupported_media_type" : response.status === 413 ? "body_too_large" : response.status === 404 ? "not_found" : response.status >= 500 ? "internal" : "bad_request"
  const detail = response.status >= 500 ? "internal error" : response.status === 415 ? "unsupported content type" : "bad request"
  return HttpServerResponse.text(problemBody(response.status, code, detail, correlationId), {
    status: response.status,
    contentType: "application/problem+json",
    headers: { "cache-control": "no-store" }
  })
}

/**
 * The check no spelling of a path can bypass: the matched route's middleware (Api.ts) authorizes
 * the caller the pipeline published against the route's scope. The credential the security
 * scheme decodes is not read: the pipeline found the key in the same headers.
 */
export const accessLayer = (options: Pick<ServerOptions, "metricsRequireKey">) => {
  const requiring = (scope: Scope) => <E, R>(route: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.withFiber((fiber) => {
      const refused = refusal(fiber.getRef(CurrentPrincipal), scope, fiber.getRef(CurrentRequest).correlationId)
      return refused === undefined ? route : Effect.succeed(refused)
    })
  const keyed = (scope: Scope) => {
    const check = requiring(scope)
    return { apiKey: check, bearer: check }
  }
  return Layer.mergeAll(
    Layer.succeed(ReadAccess, ReadAccess.of(keyed("read"))),
    Layer.succeed(ReplayAccess, ReplayAccess.of(keyed("replay"))),
    Layer.succeed(SqlAccess, SqlAccess.of(keyed("sql"))),
    Layer.succeed(MetricsAccess, MetricsAccess.of(options.metricsRequireKey ? requiring("metrics") : (route) => route))
  )
}

/** Serves `app` (the pipeline over the router), its spans recording no value of an undeclared query parameter (traceRedaction). */
export const serving = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
  // No middleware: without an exporter the server then makes no span per request (see pipeline).
  HttpServer.serve(app).pipe(Layer.provide(traceRedaction))

/** The routes, the pipeline and the server; needs the engines, the lakehouse and an HttpServer. */
export const layer = (options: HandlerOptions) => {
  const routes = Layer.mergeAll(
    HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }),
    HttpApiScalar.layer(Api, { path: "/docs", scalar: { withDefaultFonts: false } })
  ).pipe(Layer.provide(groupsLayer(options)), Layer.provide(accessLayer(options)))
  const serve = Layer.unwrap(Effect.gen(function*() {
    // Requests delete their own files; these are what a process that died mid-request left.
    yield* sweepStaleTempDirs
    const router = yield* HttpRouter.HttpRouter
    return serving(pipeline(options)(router.asHttpEffect()))
  }))
  const built = serve.pipe(Layer.provide(Layer.provideMerge(routes, HttpRouter.layer)))
  // As HttpRouter.serve does: route-level requirement markers are satisfied by the router.
  return built as Layer.Layer<never, Layer.Error<typeof built>, HttpRouter.Request.Without<Layer.Services<typeof built>>>
}

/**
 * What Node cannot read as a request (a request line or headers past `requestHeadBytes`, malformed, or not
 * received in time) it answers itself, without a body: answered here as every error is, a problem.
 * As Node's own answer: written unless a response is under way on the connection, which is then closed.
 */
const refuseUnread = (maxSymbols: number) => (error: Error & { readonly code?: string }, socket: Duplex) => {
  // Node's own test (http's socketOnError): no response on the way whose head went out already.
  const inFlight = (socket as Duplex & { readonly _httpMessage?: { readonly headersSent: boolean } | null })._httpMessage
  if (!socket.writable || (inFlight != null && inFlight.headersSent)) return void socket.destroy(error)
  const [status, code, detail] = error.code === "HPE_HEADER_OVERFLOW"
    ? [431, "bad_request", `the request line and headers are longer than the server reads (${Math.floor(requestHeadBytes(maxSymbols) / 1024)} KiB, room for K2_API_MAX_SYMBOLS=${maxSymbols} symbols)`]
    : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
    ? [408, "bad_request", "the request was not received in time"]
    : error.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW"
    ? [413, "body_too_large", "the chunk extensions are too large"]
    : [400, "bad_request", "the request could not be read"]
  const body = problemBody(status, code, detail, randomUUID())
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `cache-control: no-store\r\nconnection: close\r\n\r\n${body}`
  )
  socket.destroy(error)
}

/**
 * How long Node gives a request: its headers `headersMs`, the whole of it, body included, `requestMs`
 * (past either 408, refuseUnread), looked at every `checkEveryMs`.
 */
export interface RequestLimits {
  readonly requestMs: number
  readonly headersMs: number
  readonly checkEveryMs: number
}

const requestLimits: RequestLimits = { requestMs: 60_000, headersMs: 10_000, checkEveryMs: 30_000 }

interface NodeServerOptions {
  readonly port: number
  readonly host: string
  /** Lowered by tests only. */
  readonly limits?: RequestLimits
  /** HTTPS served directly (K2_API_TLS_CERT_FILE, K2_API_TLS_KEY_FILE); else plain HTTP. */
  readonly tls?: ServerTls
  /** K2_API_MAX_SYMBOLS (default 1000): the request head is sized to hold that many (`requestHeadBytes`). */
  readonly maxSymbols?: number
}

/**
 * A plain HTTP request to the HTTPS port: OpenSSL recognises it in the handshake. Left to Node, the
 * connection was reset without a word (curl: "Empty reply from server"); answered in plain text as
 * nginx does, the client reads why. Any other failed handshake is closed, as Node does.
 */
const refusePlainHttp = (error: Error & { readonly code?: string }, socket: Duplex) => {
  const raw = (socket as Duplex & { readonly _parent?: Duplex | null })._parent
  if (error.code === "ERR_SSL_HTTP_REQUEST" && raw != null && raw.writable) {
    const body = problemBody(400, "bad_request", "this server speaks HTTPS only: send the request to https://", randomUUID())
    raw.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `cache-control: no-store\r\nconnection: close\r\n\r\n${body}`
    )
  }
  socket.destroy()
}

/**
 * How long a stopping server (SIGTERM, SIGINT) lets the requests in flight finish before it cuts
 * them. A replay (paced for hours) or a long export never ends within any grace: the platform's
 * 20 s default kept serve past `docker stop`'s 10 s, which then killed it, leaving its temp files.
 * An SSE client resumes from its Last-Event-ID on another server.
 */
const SHUTDOWN_GRACE = "5 seconds"

/**
 * The probes, answered while the catalog and DuckDB are still being opened (the routes not yet in
 * place): /health alive, /ready not yet. Held like the rest, they waited as long as the catalog
 * took, and a liveness probe that timed out had a starting server killed. True when answered.
 */
const answeredWhileStarting = (request: IncomingMessage, response: ServerResponse): boolean => {
  if (request.method !== "GET" && request.method !== "HEAD") return false
  const forms = pathForms(pathOf(request.url ?? ""))
  const probe = forms.every((p) => p === "/health") ? "health" : forms.every((p) => p === "/ready") ? "ready" : undefined
  if (probe === undefined) return false
  const given = request.headers["x-correlation-id"]
  const correlationId = typeof given === "string" && CORRELATION_ID.test(given) ? given : randomUUID()
  const [status, type, body] = probe === "health"
    ? [200, "application/json", JSON.stringify({ status: "ok" })]
    : [503, "application/problem+json", problemBody(503, "not_ready", "not ready: starting (the catalog and DuckDB are being opened)", correlationId)]
  response.writeHead(status, {
    "content-type": type,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-correlation-id": correlationId,
    "x-content-type-options": "nosniff"
  })
  response.end(request.method === "HEAD" ? undefined : body)
  return true
}

/**
 * A caller's `traceparent` of a later version than 00, valid by its first four fields, rewritten as
 * version 00 of the same context: W3C Trace Context asks that a later version be read by those
 * fields (as K2 reads the header in Kafka records), but the platform's parser takes version 00
 * alone, so such a caller's trace was restarted under a new id. Anything else is left as it came.
 */
const traceparentAsVersion00 = (request: IncomingMessage) => {
  const value = request.headers["traceparent"]
  if (typeof value !== "string" || value.startsWith("00-")) return
  const context = parseTraceparent(value)
  if (context !== undefined) request.headers["traceparent"] = formatTraceparent(context)
}

/**
 * A Node HTTP server on host:port (0: any free port) with the platform services the routes need.
 * It listens before the routes are built; a request arriving in between, which Node would leave
 * unanswered for good, waits for the app's handler instead (the probes are answered: see
 * answeredWhileStarting). It provides `Draining`, true from the moment it starts to stop.
 */
export const nodeServer = (options: NodeServerOptions) =>
  Layer.unwrap(Effect.sync(() => {
    let draining = false
    const platform = nodeHttpServer(options, () => draining = true)
    return Layer.merge(platform, Layer.succeed(Draining, { now: () => draining }))
  }))

/** The platform's server; `onClose` is told when it starts to stop (`close`: the listening socket closes, the drain starts). */
const nodeHttpServer = (options: NodeServerOptions, onClose: () => void) =>
  NodeHttpServer.layer(() => {
    const limits = options.limits ?? requestLimits
    const maxSymbols = options.maxSymbols ?? defaults.maxSymbols
    const http = {
      requestTimeout: limits.requestMs,
      headersTimeout: limits.headersMs,
      connectionsCheckingInterval: limits.checkEveryMs,
      maxHeaderSize: requestHeadBytes(maxSymbols)
    }
    // The HTTP limits start once the handshake is done: a client that never ends its handshake is cut
    // at the headers' time, not TLS's default of two minutes. An https.Server is an http.Server
    // past the handshake (the same request, clientError and upgrade events), which the platform serves.
    const server = options.tls === undefined ? createServer(http) : createSecureServer({
      ...http,
      cert: options.tls.cert,
      key: Redacted.value(options.tls.key),
      handshakeTimeout: limits.headersMs
    }) as unknown as ReturnType<typeof createServer>
    if (options.tls !== undefined) server.on("tlsClientError", refusePlainHttp)
    const close = server.close.bind(server)
    server.close = (callback) => {
      onClose()
      return close(callback)
    }
    server.on("clientError", refuseUnread(maxSymbols))
    // K2 upgrades to nothing (WebSocket, h2c), and the platform's `upgrade` listener took every request
    // carrying Upgrade off this server: out of its request timeout (a body trickled for minutes was still
    // read; one that never came held its connection for good), and a client resetting mid-body left the
    // request's fiber waiting for good. Without one, Node serves it as any request (RFC 9110 §7.8: a
    // server may ignore Upgrade); the pipeline closes its connection (upgradeCloses).
    type Listen = (event: string, listener: (...args: Array<unknown>) => void) => typeof server
    const on = server.on.bind(server) as Listen
    server.on = ((event, listener) => event === "upgrade" ? server : on(event, listener)) satisfies Listen as typeof server.on
    const early: Array<readonly [IncomingMessage, ServerResponse]> = []
    const hold = (request: IncomingMessage, response: ServerResponse) => {
      if (!answeredWhileStarting(request, response)) early.push([request, response])
    }
    const attach = (event: string | symbol, handler: (request: IncomingMessage, response: ServerResponse) => void) => {
      if (event !== "request" || handler === hold) return
      server.off("newListener", attach)
      server.off("request", hold)
      process.nextTick(() => early.splice(0).forEach(([request, response]) => handler(request, response)))
    }
    // First of the request listeners (the platform's is added after it), so that every one sees it.
    server.on("request", traceparentAsVersion00)
    server.on("request", hold)
    server.on("newListener", attach)
    return server
  }, { port: options.port, host: options.host, gracefulShutdownTimeout: SHUTDOWN_GRACE })
