import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, type Scope } from "effect"
import { HttpEffect, HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder, OpenApi } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { Api } from "../../../src/domain/api/Api.ts"
import { defaults, type ServerOptions, sha256Hex } from "../../../src/layers/http/config.ts"
import { clientAddress, CurrentPrincipal, type Principal } from "../../../src/layers/http/principal.ts"
import * as Server from "../../../src/layers/http/server.ts"
import { pipeline } from "../../../src/layers/http/pipeline.ts"
import { RateLimiter } from "../../../src/layers/http/rateLimiter.ts"
import { accessLayer } from "../../../src/layers/http/routeAccess.ts"

describe("node server", () => {
  it.live("a request that arrives after it listens, before the app is attached, is answered once it is", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const url = HttpServer.formatAddress(server.address).replace(/\/$/, "")
      // Not /health or /ready: the probes are answered while the routes are not in place (draining.test.ts).
      const early = fetch(`${url}/v1/trades`).then((r) => r.text())
      yield* Effect.sleep("200 millis")
      yield* HttpServer.serveEffect(Effect.succeed(HttpServerResponse.text("ready")))
      assert.strictEqual(yield* Effect.promise(() => early), "ready")
      assert.strictEqual(yield* Effect.promise(() => fetch(`${url}/v1/trades`).then((r) => r.text())), "ready")
    })).pipe(Effect.provide(Server.nodeServer({ port: 0, host: "127.0.0.1" }))))
})

describe("node server: requests Node refuses before the app sees them", () => {
  it.live("a request line or headers past the server's limit is answered application/problem+json, as every error is", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const url = HttpServer.formatAddress(server.address).replace(/\/$/, "")
      yield* HttpServer.serveEffect(Effect.succeed(HttpServerResponse.text("ran")))
      for (const [what, init] of [
        ["a long query", { path: `/v1/trades?symbols=${"A".repeat(100_000)}`, headers: {} }],
        ["a long header", { path: "/v1/trades", headers: { "x-big": "b".repeat(100_000) } }]
      ] as const) {
        const res = yield* Effect.promise(() => fetch(`${url}${init.path}`, { headers: init.headers }))
        const body = yield* Effect.promise(() => res.text())
        assert.strictEqual(res.status, 431, what)
        assert.strictEqual(res.headers.get("content-type"), "application/problem+json", `${what}: ${body}`)
        const problem = JSON.parse(body)
        assert.strictEqual(problem.status, 431, what)
        assert.match(problem.correlation_id, /^[0-9a-f-]{36}$/, what)
      }
    })).pipe(Effect.provide(Server.nodeServer({ port: 0, host: "127.0.0.1" }))))
})

describe("RateLimiter", () => {
  it("holds at most its capacity of windows, however many clients one window sees", () => {
    // An IPv6 client can send each request from another address: 5,000 windows were held.
    const limiter = new RateLimiter(10, 60, 1_000)
    for (let i = 0; i < 5_000; i++) limiter.hit(`addr:${i}`, 1_000)
    assert.strictEqual(limiter.size, 1_000)
  })

  it("past its capacity it forgets the client heard from least recently, not a busy one", () => {
    const limiter = new RateLimiter(10, 60, 1_000)
    for (let i = 0; i < 10; i++) limiter.hit("key:busy", 1_000)
    for (let i = 0; i < 5_000; i++) {
      limiter.hit(`addr:${i}`, 1_000)
      if (i % 500 === 0) assert.isFalse(limiter.hit("key:busy", 1_000).allowed, `after ${i} other clients`)
    }
    assert.isFalse(limiter.hit("key:busy", 1_000).allowed)
    // addr:0 was forgotten: it starts a new count.
    assert.strictEqual(limiter.hit("addr:0", 1_000).remaining, 9)
  })

  it("counts each client in its window, and drops the windows of past ones once a new one begins", () => {
    const limiter = new RateLimiter(10, 60)
    for (let i = 0; i < 2_000; i++) limiter.hit(`addr:${i}`, 1_000)
    assert.strictEqual(limiter.size, 2_000)
    assert.isFalse([...Array(11)].map(() => limiter.hit("addr:7", 1_000)).at(-1)!.allowed)
    for (let i = 0; i < 10; i++) limiter.hit(`addr:new-${i}`, 61_000)
    assert.strictEqual(limiter.size, 10)
  })
})

// --- authorization at the matched route ------------------------------------------------------

const ran = (route: string) => () => Effect.succeed(HttpServerResponse.text(`ran ${route}`))

/** The real routes, with handlers that only say they ran. */
const stubGroups = Layer.mergeAll(
  HttpApiBuilder.group(Api, "system", (h) => h.handle("health", ran("health")).handle("ready", ran("ready")).handle("metrics", ran("metrics"))),
  HttpApiBuilder.group(Api, "market", (h) =>
    h.handleAll({
      trades: ran("trades"),
      quotes: ran("quotes"),
      bars: ran("bars"),
      summary: ran("summary"),
      quoteBars: ran("quoteBars"),
      tradesWithQuotes: ran("tradesWithQuotes")
    })),
  HttpApiBuilder.group(Api, "reference", (h) =>
    h.handleAll({ symbols: ran("symbols"), instruments: ran("instruments"), snapshots: ran("snapshots"), stats: ran("stats") })),
  HttpApiBuilder.group(Api, "replay", (h) => h.handle("replay", ran("replay"))),
  HttpApiBuilder.group(Api, "sql", (h) => h.handle("sql", ran("sql")))
)

const KEYS = { reader: "reader-key", full: "full-key", metrics: "metrics-key" }
const options = (overrides: Partial<ServerOptions> = {}): ServerOptions => ({
  ...defaults,
  keys: [
    { name: "reader", sha256: sha256Hex(KEYS.reader), scopes: new Set(["read"]) },
    { name: "full", sha256: sha256Hex(KEYS.full), scopes: new Set(["read", "replay", "sql", "metrics"]) },
    { name: "metrics", sha256: sha256Hex(KEYS.metrics), scopes: new Set(["metrics"]) }
  ],
  ...overrides
})

type App = Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, HttpServerRequest.HttpServerRequest | Scope.Scope>

/** The routes and their access middleware, served in memory as Server.layer serves them: `around` wraps the router's app. */
const serving = (settings: ServerOptions, around: (app: App) => App) => {
  const routes = HttpApiBuilder.layer(Api).pipe(
    Layer.provide(stubGroups),
    Layer.provide(accessLayer(settings)),
    Layer.provideMerge(HttpRouter.layer),
    Layer.provideMerge(HttpServer.layerServices)
  )
  return Effect.acquireRelease(
    Effect.sync(() =>
      HttpEffect.toWebHandlerLayerWith(
        // As HttpRouter.serve does: route-level requirement markers are satisfied by the router.
        routes as Layer.Layer<Layer.Success<typeof routes>>,
        { toHandler: (context) => Effect.succeed(around(Context.get(context, HttpRouter.HttpRouter).asHttpEffect())) }
      )
    ),
    ({ dispose }) => Effect.promise(dispose)
  ).pipe(Effect.map(({ handler }) => (path: string, init?: RequestInit) => Effect.promise(() => handler(new Request(`http://k2${path}`, init)))))
}

/** No pipeline: the route alone decides, for the caller given (or none published). */
const asCaller = (principal?: Principal) => (app: App): App => principal === undefined ? app : Effect.provideService(app, CurrentPrincipal, principal)

const reader: Principal = { _tag: "Key", name: "reader", scopes: new Set(["read"]) }
const sqlBody = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ sql: "SELECT 1" }) }

const answer = (res: Response) => Effect.promise(async () => ({ status: res.status, type: res.headers.get("content-type"), body: await res.text() }))
const refused = (res: Response, status: number, detail: string) =>
  Effect.gen(function*() {
    const a = yield* answer(res)
    assert.strictEqual(a.status, status, a.body)
    assert.strictEqual(a.type, "application/problem+json")
    assert.strictEqual(JSON.parse(a.body).detail, detail)
  })

describe("route authorization", () => {
  it.effect("each route asks for its own scope: with no path check in front, a key lacking it is refused", () =>
    Effect.gen(function*() {
      const call = yield* serving(options(), asCaller(reader))
      assert.strictEqual((yield* answer(yield* call("/v1/trades"))).body, "ran trades")
      assert.strictEqual((yield* answer(yield* call("/v1/snapshots/trades"))).body, "ran snapshots")
      yield* refused(yield* call("/v1/sql", sqlBody), 403, "this key has no sql access")
      yield* refused(yield* call("/v1/replay"), 403, "this key has no replay access")
      assert.strictEqual((yield* answer(yield* call("/metrics"))).body, "ran metrics")
    }))

  it.effect("a request whose caller no one published has no access to a keyed route", () =>
    Effect.gen(function*() {
      const call = yield* serving(options(), asCaller())
      const none = yield* call("/v1/trades")
      assert.ok(none.headers.get("www-authenticate"))
      yield* refused(none, 401, "an API key is required (X-API-Key header or Authorization: Bearer)")
      yield* refused(yield* call("/v1/sql", sqlBody), 401, "an API key is required (X-API-Key header or Authorization: Bearer)")
      assert.strictEqual((yield* answer(yield* call("/health"))).body, "ran health")
      const unknown = yield* serving(options(), asCaller({ _tag: "Anonymous", credential: "unknown" }))
      yield* refused(yield* unknown("/v1/symbols"), 401, "unknown API key")
    }))

  it.effect("/metrics asks for the metrics scope when so configured", () =>
    Effect.gen(function*() {
      const byReader = yield* serving(options({ metricsRequireKey: true }), asCaller(reader))
      yield* refused(yield* byReader("/metrics"), 403, "this key has no metrics access")
      const byMetrics = yield* serving(options({ metricsRequireKey: true }), asCaller({ _tag: "Key", name: "m", scopes: new Set(["metrics"]) }))
      assert.strictEqual((yield* answer(yield* byMetrics("/metrics"))).body, "ran metrics")
    }))

  it.effect("behind the pipeline, the route sees the key the pipeline authenticated", () =>
    Effect.gen(function*() {
      const call = yield* serving(options(), pipeline({ ...options(), warehouse: "" }))
      assert.strictEqual((yield* answer(yield* call("/v1/sql", { ...sqlBody, headers: { ...sqlBody.headers, "x-api-key": KEYS.full } }))).body, "ran sql")
      assert.strictEqual((yield* answer(yield* call("/v1/replay", { headers: { authorization: `Bearer ${KEYS.full}` } }))).body, "ran replay")
      yield* refused(yield* call("/v1/sql", { ...sqlBody, headers: { ...sqlBody.headers, "x-api-key": KEYS.reader } }), 403, "this key has no sql access")
      yield* refused(yield* call("/v1/sql", sqlBody), 401, "an API key is required (X-API-Key header or Authorization: Bearer)")
    }))

  it.effect("auth off: anyone calls every route, counted per address", () =>
    Effect.gen(function*() {
      const settings = options({ auth: "off", keys: [], metricsRequireKey: true })
      const call = yield* serving(settings, pipeline({ ...settings, warehouse: "" }))
      const sql = yield* call("/v1/sql", sqlBody)
      assert.strictEqual(sql.headers.get("ratelimit-remaining"), String(settings.rateLimit - 1))
      assert.strictEqual((yield* answer(sql)).body, "ran sql")
      assert.strictEqual((yield* answer(yield* call("/v1/replay"))).body, "ran replay")
      assert.strictEqual((yield* answer(yield* call("/metrics"))).body, "ran metrics")
    }))

  it("the OpenAPI document still declares the key schemes on the keyed routes, and none on /metrics", () => {
    const spec = OpenApi.fromApi(Api) as any
    const either = [{ apiKey: [] }, { bearer: [] }]
    for (const [path, method] of [["/v1/trades", "get"], ["/v1/snapshots/{table}", "get"], ["/v1/replay", "get"], ["/v1/sql", "post"]] as const) {
      assert.deepStrictEqual(spec.paths[path][method].security, either, path)
    }
    assert.deepStrictEqual(spec.paths["/metrics"].get.security, [])
    assert.deepStrictEqual(Object.keys(spec.components.securitySchemes).sort(), ["apiKey", "bearer"])
  })
})

// --- the pipeline in front of the routes: rate limits and refusals -----------------------------

/** The pipeline, with each request's client address taken from X-Test-Address (in memory there is none). */
const fromAddress = (settings: ServerOptions) => (app: App): App => {
  const piped = pipeline({ ...settings, warehouse: "" })(app)
  return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
    Effect.provideService(piped, HttpServerRequest.HttpServerRequest, request.modify({ remoteAddress: Option.fromNullishOr(request.headers["x-test-address"]) })))
}

describe("the pipeline in front of the routes", () => {
  // Windows are fixed periods of the clock: one this long does not end during a test.
  const longWindow = 1_000_000
  it.effect("a key's count survives a flood of anonymous requests from more addresses than the limiter holds", () =>
    Effect.gen(function*() {
      const settings = options({ rateLimit: 3, rateWindowSeconds: longWindow })
      const call = yield* serving(settings, fromAddress(settings))
      const asReader = { headers: { "x-api-key": KEYS.reader, "x-test-address": "10.0.0.1" } }
      for (let i = 0; i < 3; i++) assert.strictEqual((yield* call("/v1/trades", asReader)).status, 200)
      assert.strictEqual((yield* call("/v1/trades", asReader)).status, 429)
      // Anonymous clients from 100,000 networks (each counted by its /64) once filled the limiter and
      // forgot the key's window, so the key started a fresh count.
      for (let i = 0; i < 100_001; i++) yield* call("/v1/trades", { headers: { "x-test-address": `2001:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1` } })
      const after = yield* call("/v1/trades", asReader)
      assert.strictEqual(after.status, 429, yield* Effect.promise(() => after.text()))
    }), 120_000)

  it.effect("however a keyed path is spelled or asked (HEAD, trailing slash, case, escapes), the refusal is the pipeline's, with its headers", () =>
    Effect.gen(function*() {
      const settings = options({ metricsRequireKey: true, rateWindowSeconds: longWindow, corsOrigins: ["https://app.example"] })
      const call = yield* serving(settings, fromAddress(settings))
      const paths = ["/v1/sql/", "/V1/SQL", "/v1/%73ql", "//v1//replay/", "/v1/%2573ql", "/metrics/", "/METRICS", "/%6detrics", "/docs/..%2fv1/sql"]
      for (const [i, path] of paths.entries()) {
        for (const method of ["GET", "HEAD"]) {
          const res = yield* call(path, { method, headers: { origin: "https://app.example", "x-correlation-id": `c-${i}` } })
          assert.strictEqual(res.status, 401, `${method} ${path}`)
          assert.ok(res.headers.get("www-authenticate"), path)
          assert.ok(res.headers.get("ratelimit-remaining"), path)
          assert.strictEqual(res.headers.get("x-correlation-id"), `c-${i}`)
          assert.strictEqual(res.headers.get("access-control-allow-origin"), "https://app.example")
        }
      }
      for (const path of ["/v1/sql/", "/V1/SQL", "/v1/%73ql"]) {
        yield* refused(yield* call(path, { ...sqlBody, headers: { ...sqlBody.headers, "x-api-key": KEYS.reader } }), 403, "this key has no sql access")
      }
      for (const path of ["/metrics/", "/METRICS"]) yield* refused(yield* call(path, { headers: { "x-api-key": KEYS.reader } }), 403, "this key has no metrics access")
    }))

  it.effect("a key refused a route's scope is counted and told its budget, as any other answer to it", () =>
    Effect.gen(function*() {
      const settings = options({ rateLimit: 2, rateWindowSeconds: longWindow })
      const call = yield* serving(settings, fromAddress(settings))
      const sql = { ...sqlBody, headers: { ...sqlBody.headers, "x-api-key": KEYS.reader } }
      const first = yield* call("/v1/sql", sql)
      assert.strictEqual(first.headers.get("ratelimit-remaining"), "1")
      yield* refused(first, 403, "this key has no sql access")
      assert.strictEqual((yield* call("/v1/trades", { headers: { "x-api-key": KEYS.reader } })).headers.get("ratelimit-remaining"), "0")
      const over = yield* call("/v1/sql", sql)
      assert.strictEqual(over.status, 429)
      assert.match(over.headers.get("retry-after") ?? "", /^\d+$/)
    }))
})

describe("paths the URL parser cannot read", () => {
  it.effect("a path whose resolved form is no URL (an escaped backslash and bracket) is answered, not a 500", () =>
    Effect.gen(function*() {
      const settings = options()
      const call = yield* serving(settings, fromAddress(settings))
      // Decoded, `/\[` reads as a scheme-relative URL with the host `[`, which new URL refuses.
      for (const path of ["/%5C%5B/v1/trades", "/%5c%5b", "/%5C%5B/v1/sql"]) {
        const res = yield* call(path, { headers: { "x-api-key": KEYS.full } })
        const a = yield* answer(res)
        assert.notStrictEqual(a.status, 500, `${path}: ${a.body}`)
        assert.strictEqual(a.type, "application/problem+json", path)
      }
    }))
})

describe("a route asked by a method it does not answer", () => {
  it.effect("is 405 with Allow (RFC 9110 §15.5.6), not 404; OPTIONS is answered with Allow; an unknown path stays 404", () =>
    Effect.gen(function*() {
      const settings = options()
      const call = yield* serving(settings, fromAddress(settings))
      const key = { "x-api-key": KEYS.full }
      for (const [method, path, allow] of [
        ["DELETE", "/v1/trades?from=2024-01-02", "GET, HEAD, OPTIONS"],
        ["PUT", "/v1/snapshots/trades", "GET, HEAD, OPTIONS"],
        ["GET", "/v1/sql", "POST, OPTIONS"],
        ["DELETE", "/health", "GET, HEAD, OPTIONS"]
      ] as const) {
        const res = yield* call(path, { method, headers: key })
        assert.strictEqual(res.headers.get("allow"), allow, `${method} ${path}`)
        const a = yield* answer(res)
        assert.strictEqual(a.status, 405, `${method} ${path}: ${a.body}`)
        assert.strictEqual(a.type, "application/problem+json")
        assert.strictEqual(JSON.parse(a.body).code, "method_not_allowed")
      }
      const options_ = yield* call("/v1/trades", { method: "OPTIONS", headers: key })
      assert.strictEqual(options_.status, 204)
      assert.strictEqual(options_.headers.get("allow"), "GET, HEAD, OPTIONS")
      const unknown = yield* call("/v1/nothing", { method: "DELETE", headers: key })
      assert.strictEqual(unknown.status, 404)
      assert.isNull(unknown.headers.get("allow"))
    }))
})

describe("a query parameter given more than once", () => {
  it.effect("is refused saying so, not as a schema's `Expected string`", () =>
    Effect.gen(function*() {
      const settings = options()
      const call = yield* serving(settings, fromAddress(settings))
      const res = yield* call("/v1/trades?from=2024-01-02&to=2024-01-03&symbols=BHP&symbols=CBA", { headers: { "x-api-key": KEYS.full } })
      yield* refused(res, 400, "symbols is given more than once: give each parameter once (a list is comma-separated, as in symbols=BHP,CBA)")
    }))
})

describe("a query parameter given empty", () => {
  it.effect("is refused naming it (an unset variable in a URL template once read every symbol, or the default page)", () =>
    Effect.gen(function*() {
      const settings = options()
      const call = yield* serving(settings, fromAddress(settings))
      const key = { "x-api-key": KEYS.full }
      for (const [method, path, name] of [
        ["GET", "/v1/trades?from=2024-01-02&to=2024-01-03&symbols=", "symbols"],
        ["GET", "/v1/trades?from=2024-01-02&to=2024-01-03&symbols=%20&limit=1", "symbols"],
        ["HEAD", "/v1/bars?from=2024-01-02&to=2024-01-03&limit=", "limit"],
        ["GET", "/v1/symbols?snapshot_id=", "snapshot_id"],
        ["GET", "/v1/replay?tables=&speed=2", "tables"]
      ] as const) {
        const res = yield* call(path, { method, headers: key })
        assert.strictEqual(res.status, 400, `${method} ${path}`)
        if (method !== "HEAD") yield* refused(res, 400, `${name} is empty: give it a value, or leave it out for its default`)
      }
    }))
})

describe("a query parameter the route does not declare", () => {
  const TRADES = "symbols, from, to, limit, cursor, fields, filter, snapshot_id, as_of, format"
  it.effect("is refused naming it and the route's parameters, not ignored (a typo once answered every symbol)", () =>
    Effect.gen(function*() {
      const settings = options()
      const call = yield* serving(settings, fromAddress(settings))
      const key = { "x-api-key": KEYS.full }
      for (const [method, path, detail] of [
        ["GET", "/v1/trades?symbol=BHP", `unknown query parameter symbol; /v1/trades takes ${TRADES}`],
        ["HEAD", "/v1/trades?symbols=BHP&limt=1", `unknown query parameter limt; /v1/trades takes ${TRADES}`],
        ["GET", "/V1//Trades/?Symbols=BHP&limt=1", `unknown query parameters Symbols, limt; /v1/trades takes ${TRADES}`],
        ["GET", "/v1/snapshots/trades?snapshot_id=1", "unknown query parameter snapshot_id; /v1/snapshots/:table takes limit, cursor, format"],
        ["GET", "/health?verbose=1", "unknown query parameter verbose; /health takes no query parameters"],
        ["GET", "/v1/trades?=x", `unknown query parameter ""; /v1/trades takes ${TRADES}`],
        ["GET", "/v1/symbols?__proto__=x&toString=1", "unknown query parameters __proto__, toString; /v1/symbols takes symbols, snapshot_id, as_of, format"]
      ] as const) {
        const res = yield* call(path, { method, headers: key })
        assert.strictEqual(res.status, 400, `${method} ${path}`)
        if (method !== "HEAD") yield* refused(res, 400, detail)
      }
      // SQL's parameters are in its body, not its query.
      yield* refused(
        yield* call("/v1/sql?limit=5", { ...sqlBody, headers: { ...sqlBody.headers, ...key } }),
        400,
        "unknown query parameter limit; /v1/sql takes no query parameters"
      )
    }))

  it.effect("declared parameters, and routes asked without any, are answered as before; a caller without a key is told that first", () =>
    Effect.gen(function*() {
      const settings = options()
      const call = yield* serving(settings, fromAddress(settings))
      const key = { "x-api-key": KEYS.full }
      for (const path of [
        "/v1/trades?symbols=BHP&from=2024-01-02&to=2024-01-03&limit=1&cursor=c&fields=price&filter=price:1&format=json",
        "/v1/trades?",
        "/v1/stats/trades?snapshot_id=1&format=csv",
        "/v1/replay?tables=trades&speed=2&format=sse",
        "/health",
        "/ready",
        "/metrics"
      ]) assert.strictEqual((yield* call(path, { headers: key })).status, 200, path)
      assert.strictEqual((yield* call("/v1/trades?symbol=BHP")).status, 401)
      assert.strictEqual((yield* call("/v1/nothing?symbol=BHP", { headers: key })).status, 404)
    }))
})

describe("a 401's WWW-Authenticate (RFC 6750 §3.1)", () => {
  it.effect("names invalid_token for a key presented and refused, and no error code for a request without one", () =>
    Effect.gen(function*() {
      const settings = options()
      const call = yield* serving(settings, fromAddress(settings))
      for (const headers of [{ "x-api-key": "guessed" }, { authorization: "Bearer guessed" }]) {
        const bad = yield* call("/v1/trades", { headers })
        assert.strictEqual(bad.headers.get("www-authenticate"), `Bearer realm="k2", error="invalid_token"`)
        yield* refused(bad, 401, "unknown API key")
      }
      const none = yield* call("/v1/trades")
      assert.notInclude(none.headers.get("www-authenticate") ?? "", "error=")
      yield* refused(none, 401, "an API key is required (X-API-Key header or Authorization: Bearer)")
    }))
})

describe("anonymous callers by address", () => {
  const longWindow = 1_000_000
  it.effect("an IPv6 client is counted by its /64, an IPv4 one (mapped or not) by its address", () =>
    Effect.gen(function*() {
      const settings = options({ auth: "off", keys: [], rateLimit: 2, rateWindowSeconds: longWindow })
      const call = yield* serving(settings, fromAddress(settings))
      const from = (address: string) => call("/v1/trades", { headers: { "x-test-address": address } })
      // One client rotating addresses in its /64: one window.
      assert.strictEqual((yield* from("2001:db8:1:2::1")).status, 200)
      assert.strictEqual((yield* from("2001:db8:1:2:ffff::7")).status, 200)
      assert.strictEqual((yield* from("2001:0db8:0001:0002:abcd:0:0:9")).status, 429)
      // Another /64 is another client.
      assert.strictEqual((yield* from("2001:db8:1:3::1")).status, 200)
      // IPv4: each address its own; an IPv4-mapped IPv6 address is that IPv4 address.
      assert.strictEqual((yield* from("192.0.2.1")).status, 200)
      assert.strictEqual((yield* from("::ffff:192.0.2.1")).status, 200)
      assert.strictEqual((yield* from("192.0.2.1")).status, 429)
      assert.strictEqual((yield* from("192.0.2.2")).status, 200)
    }))

  it("the caller an anonymous request is counted as", () => {
    const of = (address: string | undefined) =>
      clientAddress({ remoteAddress: Option.fromNullishOr(address) } as HttpServerRequest.HttpServerRequest)
    assert.strictEqual(of("2001:db8:1:2:3:4:5:6"), "addr:2001:db8:1:2::/64")
    assert.strictEqual(of("2001:db8:1:2::"), "addr:2001:db8:1:2::/64")
    assert.strictEqual(of("fe80::1%eth0"), "addr:fe80:0:0:0::/64")
    assert.strictEqual(of("::1"), "addr:0:0:0:0::/64")
    assert.strictEqual(of("10.1.2.3"), "addr:10.1.2.3")
    assert.strictEqual(of("::ffff:10.1.2.3"), "addr:10.1.2.3")
    assert.strictEqual(of("::FFFF:a01:203"), "addr:10.1.2.3")
    // RFC 6052's well-known NAT64 prefix: an IPv4 client translated (SIIT-DC, NAT46) is its IPv4 address, not one /64 for all of them.
    assert.strictEqual(of("64:ff9b::192.0.2.1"), "addr:192.0.2.1")
    assert.strictEqual(of("64:ff9b::192.0.2.2"), "addr:192.0.2.2")
    assert.strictEqual(of(undefined), "addr:unknown")
  })
})

describe("the request metrics' route label", () => {
  it.effect("is the route the router matched, however the path is spelled (case, repeated slashes)", () =>
    Effect.gen(function*() {
      const settings = options({ auth: "off", keys: [] })
      const call = yield* serving(settings, fromAddress(settings))
      const count = (route: string) =>
        PrometheusMetrics.format().pipe(Effect.map((text) => {
          const line = text.split("\n").find((l) => l.startsWith("k2_http_requests_total{") && l.includes(`route="${route}"`) && l.includes(`method="GET"`) && l.includes(`status="200"`))
          return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1))
        }))
      for (const [path, route] of [["/V1/replay", "/v1/replay"], ["//v1/trades", "/v1/trades"], ["/v1//Snapshots/trades", "/v1/snapshots"], ["/HEALTH", "/health"]] as const) {
        const before = yield* count(route)
        const other = yield* count("other")
        const res = yield* call(path)
        assert.strictEqual(res.status, 200, path)
        assert.strictEqual(yield* count(route), before + 1, path)
        assert.strictEqual(yield* count("other"), other, path)
      }
    }))
})
