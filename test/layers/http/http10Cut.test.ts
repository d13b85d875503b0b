/**
 * An HTTP/1.0 client has no chunked encoding: a streamed answer (replay, CSV export, a large JSON
 * page) is sent until the connection closes, and its end is that close. A body cut after its headers
 * (a failure mid-stream) must not close the connection as an answer that is whole would: the client,
 * or a proxy speaking HTTP/1.0 to the server (nginx's default), would take the cut body for all of it.
 */
import * as net from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { HttpServer, HttpServerResponse } from "effect/http"
import * as Server from "../../../src/layers/http/server.ts"

/** What a raw client reads of one request: the bytes, and how the connection ended (a clean close, or reset). */
const exchange = (port: number, request: string) =>
  Effect.promise(() =>
    new Promise<{ readonly text: string; readonly ended: "closed" | "reset" }>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => socket.write(request))
      let text = ""
      socket.on("data", (d: Buffer) => text += d.toString("latin1"))
      socket.on("end", () => resolve({ text, ended: "closed" }))
      socket.on("error", () => resolve({ text, ended: "reset" }))
    })
  )

const encoder = new TextEncoder()
/** A body whose first line goes out, then fails: as a replay or export failing after its 200. */
const cut = Stream.concat(
  Stream.make(encoder.encode("{\"first\":1}\n")),
  Stream.fromEffect(Effect.sleep("100 millis")).pipe(Stream.flatMap(() => Stream.fail("the read failed")))
)
const whole = Stream.make(encoder.encode("{\"first\":1}\n"), encoder.encode("{\"second\":2}\n"))

const served = (body: Stream.Stream<Uint8Array, string>, request: (path: string) => string) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    yield* HttpServer.serveEffect(Effect.succeed(HttpServerResponse.stream(body, { contentType: "application/x-ndjson" })))
    return yield* exchange(Number(new URL(HttpServer.formatAddress(server.address)).port), request("/v1/replay"))
  })).pipe(Effect.provide(Server.nodeServer({ port: 0, host: "127.0.0.1" })))

describe("node server: HTTP/1.0", () => {
  it.live("a streamed body cut after its headers resets the connection, so the client does not read it as whole", () =>
    Effect.gen(function*() {
      const got = yield* served(cut, (path) => `GET ${path} HTTP/1.0\r\nHost: k2\r\n\r\n`)
      // Its headers went out (the 200), then the connection was reset, not closed as a whole body's is.
      assert.include(got.text, "200 OK")
      assert.strictEqual(got.ended, "reset")
    }))

  it.live("a whole streamed body ends with the connection's clean close, as HTTP/1.0 delimits it", () =>
    Effect.gen(function*() {
      const got = yield* served(whole, (path) => `GET ${path} HTTP/1.0\r\nHost: k2\r\n\r\n`)
      assert.isTrue(got.text.endsWith("{\"first\":1}\n{\"second\":2}\n"), got.text)
      assert.strictEqual(got.ended, "closed")
    }))

  it.live("over HTTP/1.1 a cut body is an unterminated chunked body, as before", () =>
    Effect.gen(function*() {
      const got = yield* served(cut, (path) => `GET ${path} HTTP/1.1\r\nHost: k2\r\nConnection: close\r\n\r\n`)
      assert.include(got.text.toLowerCase(), "transfer-encoding: chunked")
      assert.notInclude(got.text, "\r\n0\r\n\r\n")
    }))
})
