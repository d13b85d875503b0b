/**
 * `serve` draining (SIGTERM): the listening socket closes at once, but a connection kept alive past
 * a response that ended during the drain still carried requests, and /ready answered them 200, so a
 * load balancer probing on it kept the server in rotation until it was gone. Once the drain starts,
 * /ready is 503 `draining` and every other request but /health (liveness) is 503 `draining` with
 * Retry-After and `Connection: close`, so the client goes to another server.
 */
import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Server from "../../../src/layers/http/server.ts"
import { pipeline } from "../../../src/layers/http/pipeline.ts"
import { served, testOptions } from "../../integration/http-support.ts"

/** Real time, for the sockets' I/O. */
const io = (ms: number) => Effect.promise(() => new Promise<void>((r) => setTimeout(r, ms)))

/** A raw HTTP/1.1 connection: what it has received so far, and a way to send. */
const connect = (port: number) =>
  Effect.promise(() =>
    new Promise<{ readonly socket: net.Socket; readonly received: () => string; readonly clear: () => void }>((resolve) => {
      let text = ""
      const socket = net.connect(port, "127.0.0.1", () => resolve({ socket, received: () => text, clear: () => void (text = "") }))
      socket.on("data", (b) => void (text += b.toString("latin1")))
      socket.on("error", () => {})
    })
  )

const until = (check: () => boolean) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10))
  })

/**
 * A node server behind the pipeline, in a scope the test closes to start the drain: /v1/trades is
 * a download whose head goes out at once and whose body ends once `release` is done.
 */
const drainableServer = Effect.gen(function*() {
  const release = yield* Deferred.make<void>()
  const scope = yield* Scope.make()
  const options = { ...testOptions({ auth: "off", keys: [] }), warehouse: "/tmp" }
  const port = yield* Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (request.url.startsWith("/v1/trades")) {
        const rest = Stream.fromEffect(Deferred.await(release).pipe(Effect.as(new TextEncoder().encode("b\n"))))
        return HttpServerResponse.stream(Stream.concat(Stream.make(new TextEncoder().encode("a\n")), rest))
      }
      return HttpServerResponse.text(request.url.startsWith("/ready") ? "ready" : "ok")
    })
    yield* HttpServer.serveEffect(pipeline(options)(app))
    return (server.address as { port: number }).port
  }).pipe(Effect.provideContext(yield* Layer.buildWithScope(Server.nodeServer({ port: 0, host: "127.0.0.1" }), scope)), Scope.provide(scope))
  return { port, release, scope }
})

describe("node server: draining", () => {
  it.live("during the drain, /ready on a kept-alive connection is 503 draining, with Retry-After and Connection: close", () =>
    Effect.gen(function*() {
      const { port, release, scope } = yield* drainableServer

      const c = yield* connect(port)
      c.socket.write("GET /v1/trades HTTP/1.1\r\nHost: k2\r\n\r\n")
      yield* until(() => c.received().includes("a\n"))
      // The drain starts: the server stops listening and waits on the download.
      const stopping = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* io(200)
      yield* Deferred.succeed(release, undefined)
      yield* until(() => c.received().includes("0\r\n\r\n"))
      assert.notMatch(c.received(), /connection: close/i, "the download's head went out before the drain")

      c.clear()
      c.socket.write("GET /ready HTTP/1.1\r\nHost: k2\r\n\r\n")
      yield* until(() => /\r\n\r\n[\s\S]*\}/.test(c.received()) || c.socket.destroyed)
      const ready = c.received()
      assert.match(ready, /^HTTP\/1\.1 503/, ready)
      assert.include(ready, `"code":"draining"`)
      assert.match(ready, /connection: close/i)
      assert.match(ready, /retry-after: 5/i)
      c.socket.destroy()
      yield* Fiber.join(stopping)
    }), 30_000)

  it.live("during the drain, /health is 200 (alive) and an API request is 503 draining with Connection: close", () =>
    Effect.gen(function*() {
      const { port, release, scope } = yield* drainableServer

      const a = yield* connect(port)
      const b = yield* connect(port)
      // b is busy as the drain starts (so it is not closed as idle), then free again.
      b.socket.write("GET /v1/trades HTTP/1.1\r\nHost: k2\r\n\r\n")
      a.socket.write("GET /v1/trades HTTP/1.1\r\nHost: k2\r\n\r\n")
      yield* until(() => a.received().includes("a\n") && b.received().includes("a\n"))
      const stopping = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* io(200)
      yield* Deferred.succeed(release, undefined)
      yield* until(() => a.received().includes("0\r\n\r\n") && b.received().includes("0\r\n\r\n"))

      a.clear()
      a.socket.write("GET /health HTTP/1.1\r\nHost: k2\r\n\r\n")
      yield* until(() => a.received().endsWith("ok") || a.socket.destroyed)
      assert.match(a.received(), /^HTTP\/1\.1 200/, a.received())

      b.clear()
      b.socket.write("GET /v1/trades?symbols=BHP HTTP/1.1\r\nHost: k2\r\n\r\n")
      yield* until(() => /\r\n\r\n[\s\S]*\}/.test(b.received()) || b.socket.destroyed)
      const api = b.received()
      assert.match(api, /^HTTP\/1\.1 503/, api)
      assert.include(api, `"code":"draining"`)
      assert.match(api, /connection: close/i)
      assert.match(api, /retry-after: 5/i)
      a.socket.destroy()
      b.socket.destroy()
      yield* Fiber.join(stopping)
    }), 30_000)
})

/**
 * Starting: serve listens before the catalog and DuckDB are open (a request then waits for the
 * routes rather than going unanswered). /health and /ready waited too, however long the catalog
 * took to answer, so a liveness probe timed out and its supervisor killed a server that was only
 * starting. They answer at once: alive, and not ready yet.
 */
describe("node server: starting", () => {
  it.live("before the routes are in place, /health is 200 and /ready 503 not_ready; other requests wait for the routes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Server.nodeServer({ port: 0, host: "127.0.0.1" }), scope)
      const port = yield* Effect.map(HttpServer.HttpServer, (s) => (s.address as { port: number }).port).pipe(Effect.provideContext(context))
      const base = `http://127.0.0.1:${port}`
      const answer = (path: string) =>
        Effect.promise(() =>
          fetch(`${base}${path}`, { signal: AbortSignal.timeout(3000) }).then(
            async (r) => ({ status: r.status, body: await r.text() }),
            (e: Error) => ({ status: 0, body: e.name })
          )
        )
      const health = yield* answer("/health")
      assert.deepStrictEqual(health, { status: 200, body: `{"status":"ok"}` })
      const ready = yield* answer("/ready")
      assert.strictEqual(ready.status, 503, ready.body)
      assert.include(ready.body, `"code":"not_ready"`)
      // Held until the routes are in place, then answered by them.
      const held = yield* Effect.forkChild(answer("/v1/trades"))
      yield* io(200)
      yield* HttpServer.serveEffect(Effect.succeed(HttpServerResponse.text("routed"))).pipe(Effect.provideContext(context), Scope.provide(scope))
      assert.deepStrictEqual(yield* Fiber.join(held), { status: 200, body: "routed" })
      yield* Scope.close(scope, Exit.void)
    }), 30_000)
})

describe("serve: draining", () => {
  it.live("the served API's /ready, asked on a connection that was busy as the drain started, is 503 draining", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(served(testOptions()), scope)
      const port = yield* Effect.map(HttpServer.HttpServer, (s) => (s.address as { port: number }).port).pipe(Effect.provideContext(context))
      const c = yield* connect(port)
      // A request under way (its head partly sent) keeps its connection through the drain's start.
      c.socket.write("GET /ready HTTP/1.1\r\nHost: k2\r\n")
      yield* io(100)
      const stopping = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* io(200)
      c.socket.write("\r\n")
      yield* until(() => /\r\n\r\n[\s\S]*\}/.test(c.received()) || c.socket.destroyed)
      assert.match(c.received(), /^HTTP\/1\.1 503/, c.received())
      assert.include(c.received(), `"code":"draining"`)
      c.socket.destroy()
      yield* Fiber.join(stopping)
    }), 120_000)
})
