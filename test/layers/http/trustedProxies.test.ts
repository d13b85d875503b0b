/**
 * Behind a reverse proxy every connection comes from the proxy: read as the socket's address
 * alone, all anonymous clients were one caller, and one heavy user spent everyone's rate limit
 * and stream slots. With K2_API_TRUSTED_PROXIES the client is the address the proxy forwarded.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Scope } from "effect"
import { HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { fromEnv } from "../../../src/layers/http/config.ts"
import { CurrentRequest } from "../../../src/layers/http/handlers.ts"
import * as Server from "../../../src/layers/http/server.ts"
import { pipeline } from "../../../src/layers/http/pipeline.ts"

/**
 * The pipeline (settings from `env`, anonymous, one request a window) on a node server of its own,
 * over an app that answers the caller the pipeline counts and the address the routes see.
 */
const proxiedServer = (env: Record<string, string>) => Effect.gen(function*() {
  const settings = yield* fromEnv.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord({
    K2_API_AUTH: "off",
    K2_API_RATE_LIMIT: "1",
    K2_API_RATE_WINDOW_SECONDS: "1000000",
    ...env
  })))
  const scope = yield* Effect.scope
  const context = yield* Layer.buildWithScope(Server.nodeServer({ port: 0, host: "127.0.0.1" }), scope)
  return yield* Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const { caller } = yield* CurrentRequest
      const seen = request.remoteAddress._tag === "Some" ? request.remoteAddress.value : "none"
      return HttpServerResponse.text(`${caller} ${seen}`)
    })
    yield* HttpServer.serveEffect(pipeline({ ...settings, warehouse: "/tmp" })(app))
    const url = `http://127.0.0.1:${(server.address as { port: number }).port}`
    return (headers: Record<string, string>) =>
      Effect.promise(async () => {
        const res = await fetch(`${url}/v1/trades`, { headers })
        return { status: res.status, body: await res.text() }
      })
  }).pipe(Effect.provideContext(context), Scope.provide(scope))
})

describe("behind a trusted proxy", () => {
  it.live("two clients behind one proxy are two callers: the second is not refused for the first one's requests", () =>
    Effect.scoped(Effect.gen(function*() {
      const call = yield* proxiedServer({ K2_API_TRUSTED_PROXIES: "loopback" })
      // As nginx sends them: the client's own (spoofed) entry, then the address it saw.
      const first = yield* call({ "x-forwarded-for": "203.0.113.7" })
      assert.deepStrictEqual(first, { status: 200, body: "addr:203.0.113.7 203.0.113.7" })
      const second = yield* call({ "x-forwarded-for": "6.6.6.6, 198.51.100.9" })
      assert.deepStrictEqual(second, { status: 200, body: "addr:198.51.100.9 198.51.100.9" })
      // The first client's window is its own: its next request is the one refused.
      assert.strictEqual((yield* call({ "x-forwarded-for": "203.0.113.7" })).status, 429)
    })))

  it.live("RFC 7239 Forwarded, when the proxy is said to send it", () =>
    Effect.scoped(Effect.gen(function*() {
      const call = yield* proxiedServer({ K2_API_TRUSTED_PROXIES: "127.0.0.1/32, ::1", K2_API_CLIENT_ADDRESS_HEADER: "forwarded" })
      const res = yield* call({ forwarded: `for=192.0.2.60;proto=https, for="[2001:db8:cafe::17]:4711"`, "x-forwarded-for": "6.6.6.6" })
      // Counted by its /64 (principal.ts clientAddress); the routes see the address itself.
      assert.deepStrictEqual(res, { status: 200, body: "addr:2001:db8:cafe:0::/64 2001:db8:cafe::17" })
    })))

  it.live("from a peer that is not trusted (the default: none is), the headers are ignored", () =>
    Effect.scoped(Effect.gen(function*() {
      const call = yield* proxiedServer({})
      assert.deepStrictEqual(yield* call({ "x-forwarded-for": "203.0.113.7" }), { status: 200, body: "addr:127.0.0.1 127.0.0.1" })
      // A client cannot buy itself a fresh window by naming another address.
      assert.strictEqual((yield* call({ "x-forwarded-for": "203.0.113.8" })).status, 429)
    })))

  it.live("a malformed header from a trusted proxy is ignored: the peer is the caller, not a 500", () =>
    Effect.scoped(Effect.gen(function*() {
      const call = yield* proxiedServer({ K2_API_TRUSTED_PROXIES: "loopback", K2_API_CLIENT_ADDRESS_HEADER: "forwarded" })
      assert.deepStrictEqual(yield* call({ forwarded: `for="[2001:db8::1` }), { status: 200, body: "addr:127.0.0.1 127.0.0.1" })
    })))
})
