/**
 * A request carrying `Upgrade` (h2c from `curl --http2`, websocket, any token): K2 upgrades to
 * nothing, but the platform's `upgrade` listener took every such request off Node's HTTP server: out
 * of its request timeout (a POST whose body was trickled for 107 s was still read and answered, one
 * whose body never came held its connection for good), and a client that reset its connection
 * mid-body left the request's fiber waiting for good (the server could not stop). Such a request is
 * now served as any other, its connection closed after the answer (the parser reads no request past
 * an Upgrade).
 */
import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Scope } from "effect"
import { HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Server from "../../../src/layers/http/server.ts"
import type { RequestLimits } from "../../../src/layers/http/nodeHttpServer.ts"
import { pipeline } from "../../../src/layers/http/pipeline.ts"
import { testOptions } from "../../integration/http-support.ts"

/** A raw HTTP/1.1 connection: what it has received so far, and whether it is closed. */
const connect = (port: number) =>
  Effect.promise(() =>
    new Promise<{ readonly socket: net.Socket; readonly received: () => string; readonly closed: () => boolean }>((resolve) => {
      let text = ""
      let closed = false
      const socket = net.connect(port, "127.0.0.1", () => resolve({ socket, received: () => text, closed: () => closed }))
      socket.on("data", (b) => void (text += b.toString("latin1")))
      socket.on("close", () => void (closed = true))
      socket.on("error", () => {})
    })
  )

/** Waits (a safety net of ~10 s, not a limit asserted) until `check` holds. */
const until = (check: () => boolean) =>
  Effect.promise(async () => {
    for (let i = 0; i < 1_000 && !check(); i++) await new Promise((r) => setTimeout(r, 10))
  })

/**
 * The pipeline over an app that reads the body of a POST and answers "ok", on a node server of its
 * own; `reading` is done once a POST's body is being read, `bodyRead` once its reading has ended.
 */
const upgradableServer = (limits?: RequestLimits) => Effect.gen(function*() {
  const scope = yield* Scope.make()
  const reading = yield* Deferred.make<void>()
  const bodyRead = yield* Deferred.make<void>()
  const options = { ...testOptions({ auth: "off", keys: [] }), warehouse: "/tmp" }
  const port = yield* Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (request.method === "POST") {
        yield* Deferred.done(reading, Exit.void)
        yield* Effect.orDie(request.text).pipe(Effect.ensuring(Deferred.done(bodyRead, Exit.void)))
      }
      return HttpServerResponse.text("ok")
    })
    yield* HttpServer.serveEffect(pipeline(options)(app))
    return (server.address as { port: number }).port
  }).pipe(Effect.provideContext(yield* Layer.buildWithScope(Server.nodeServer({ port: 0, host: "127.0.0.1", ...(limits === undefined ? {} : { limits }) }), scope)), Scope.provide(scope))
  return { port, scope, reading, bodyRead }
})

const statuses = (text: string) => [...text.matchAll(/^HTTP\/1\.1 (\d{3})/gm)].map((m) => Number(m[1]))

const UPGRADE_POST = "POST /v1/sql HTTP/1.1\r\nHost: k2\r\nConnection: Upgrade\r\nUpgrade: foo\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"

describe("node server: requests carrying Upgrade", () => {
  it.live("one whose body never comes is answered 408 when the request time is up, as any other", () =>
    Effect.gen(function*() {
      // Lowered so that the test does not wait a minute.
      const { port, scope } = yield* upgradableServer({ requestMs: 1_000, headersMs: 500, checkEveryMs: 100 })
      const c = yield* connect(port)
      c.socket.write(UPGRADE_POST)
      yield* until(() => c.closed() || statuses(c.received()).length > 0)
      c.socket.destroy()
      assert.deepStrictEqual(statuses(c.received()), [408], c.received())
      yield* Scope.close(scope, Exit.void)
    }))

  it.live("one whose client resets the connection mid-body ends: its body is read no longer", () =>
    Effect.gen(function*() {
      const { port, scope, reading, bodyRead } = yield* upgradableServer()
      const c = yield* connect(port)
      c.socket.write(UPGRADE_POST)
      yield* Deferred.await(reading)
      c.socket.resetAndDestroy()
      let ended = false
      yield* Effect.forkChild(Effect.andThen(Deferred.await(bodyRead), Effect.sync(() => void (ended = true))))
      yield* until(() => ended)
      assert.isTrue(ended, "the request's reading of its body never ended")
      yield* Scope.close(scope, Exit.void)
    }))

  it.live("its answer closes the connection, whose next request the parser would not read", () =>
    Effect.gen(function*() {
      const { port, scope } = yield* upgradableServer()
      const c = yield* connect(port)
      c.socket.write("GET /health HTTP/1.1\r\nHost: k2\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
      yield* until(() => c.closed())
      assert.deepStrictEqual(statuses(c.received()), [200], c.received())
      assert.match(c.received(), /^connection: close\r$/im)
      yield* Scope.close(scope, Exit.void)
    }))
})
