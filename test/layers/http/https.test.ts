/**
 * HTTPS served directly (K2_API_TLS_CERT_FILE, K2_API_TLS_KEY_FILE), with a self-signed certificate
 * made by openssl for the test: requests over TLS are served through the same pipeline and limits;
 * a plain HTTP request to the port is told to use https; a bad pair stops the start naming the variable.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as https from "node:https"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { HttpServer, HttpServerResponse } from "effect/http"
import { InvalidServerConfig, type ServerTls, tlsFromEnv } from "../../../src/layers/http/config.ts"
import * as Server from "../../../src/layers/http/server.ts"
import { pipeline } from "../../../src/layers/http/pipeline.ts"
import { testOptions } from "../../integration/http-support.ts"

let dir = ""
const file = (name: string) => path.join(dir, name)

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-https-"))
  const selfSigned = (name: string) =>
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", file(`${name}.key`), "-out", file(`${name}.crt`)
    ], { stdio: "ignore" })
  selfSigned("server")
  selfSigned("other")
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const readTls = (env: Record<string, string>) =>
  Effect.runSyncExit(tlsFromEnv.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord(env))))

/** The pipeline over an app answering "ran", on an HTTPS node server; its port. */
const httpsServer = (tls: ServerTls) => Effect.gen(function*() {
  const scope = yield* Effect.scope
  const context = yield* Layer.buildWithScope(Server.nodeServer({ port: 0, host: "127.0.0.1", tls }), scope)
  return yield* Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    yield* HttpServer.serveEffect(pipeline({ ...testOptions({ auth: "off", keys: [] }), warehouse: "/tmp" })(Effect.succeed(HttpServerResponse.text("ran"))))
    return (server.address as { port: number }).port
  }).pipe(Effect.provideContext(context), Scope.provide(scope))
})

const get = (port: number, ca: string, headers: Record<string, string> = {}) =>
  Effect.promise(() =>
    new Promise<{ status: number; body: string; headers: Record<string, unknown> } | { error: string }>((resolve) => {
      const req = https.get({ host: "127.0.0.1", port, path: "/v1/trades", ca, servername: "localhost", headers }, (res) => {
        let body = ""
        res.on("data", (c) => body += c)
        res.on("end", () => resolve({ status: res.statusCode!, body, headers: res.headers }))
      })
      req.on("error", (e: Error & { code?: string }) => resolve({ error: e.code ?? e.message }))
    })
  )

describe("HTTPS served directly", () => {
  it.live("a client trusting the certificate is served through the pipeline; one that does not is refused by its TLS", () =>
    Effect.scoped(Effect.gen(function*() {
      const tls = readTls({ K2_API_TLS_CERT_FILE: file("server.crt"), K2_API_TLS_KEY_FILE: file("server.key") })
      assert.isTrue(Exit.isSuccess(tls))
      const port = yield* httpsServer((tls as Exit.Success<ServerTls | undefined>).value!)
      const ok = yield* get(port, fs.readFileSync(file("server.crt"), "utf8"), { "x-correlation-id": "over-tls" })
      assert.deepInclude(ok, { status: 200, body: "ran" })
      assert.strictEqual((ok as { headers: Record<string, unknown> }).headers["x-correlation-id"], "over-tls")
      assert.deepStrictEqual(yield* get(port, fs.readFileSync(file("other.crt"), "utf8")), { error: "DEPTH_ZERO_SELF_SIGNED_CERT" })
    })))

  it.live("plain HTTP to the HTTPS port is answered 400, saying to use https, not a connection reset without a word", () =>
    Effect.scoped(Effect.gen(function*() {
      const tls = readTls({ K2_API_TLS_CERT_FILE: file("server.crt"), K2_API_TLS_KEY_FILE: file("server.key") })
      const port = yield* httpsServer((tls as Exit.Success<ServerTls | undefined>).value!)
      const res = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/v1/trades`))
      assert.strictEqual(res.status, 400)
      assert.strictEqual(res.headers.get("content-type"), "application/problem+json")
      assert.include(((yield* Effect.promise(() => res.json())) as { detail: string }).detail, "https://")
    })))

  it.live("a client that opens a connection and never starts its handshake is cut at the headers' time", () =>
    Effect.scoped(Effect.gen(function*() {
      const tls = readTls({ K2_API_TLS_CERT_FILE: file("server.crt"), K2_API_TLS_KEY_FILE: file("server.key") })
      const scope = yield* Effect.scope
      const limits = { requestMs: 300, headersMs: 200, checkEveryMs: 100 }
      const context = yield* Layer.buildWithScope(Server.nodeServer({ port: 0, host: "127.0.0.1", tls: (tls as Exit.Success<ServerTls | undefined>).value!, limits }), scope)
      const port = ((yield* HttpServer.HttpServer.pipe(Effect.provideContext(context))).address as { port: number }).port
      // Closed by the server (TLS's own default would hold it two minutes).
      const closed = yield* Effect.promise(() =>
        new Promise<boolean>((resolve) => {
          const socket = net.connect(port, "127.0.0.1")
          socket.on("error", () => {})
          socket.on("close", () => resolve(true))
          setTimeout(() => resolve(false), 10_000).unref()
        })
      )
      assert.isTrue(closed)
    })))
})

describe("K2_API_TLS_CERT_FILE and K2_API_TLS_KEY_FILE", () => {
  const refused = (env: Record<string, string>) => {
    const exit = readTls(env)
    assert.isTrue(Exit.isFailure(exit), JSON.stringify(env))
    // InvalidServerConfig: serve exits 2, as for every bad setting.
    const error = Option.getOrUndefined(Cause.findErrorOption((exit as Exit.Failure<unknown, unknown>).cause))
    assert.instanceOf(error, InvalidServerConfig)
    return (error as InvalidServerConfig).message
  }

  it("neither: plain HTTP; both: read, the key held redacted", () => {
    const none = readTls({})
    assert.isTrue(Exit.isSuccess(none) && none.value === undefined)
    const both = readTls({ K2_API_TLS_CERT_FILE: file("server.crt"), K2_API_TLS_KEY_FILE: file("server.key") })
    assert.isTrue(Exit.isSuccess(both) && both.value !== undefined)
    const tls = (both as Exit.Success<ServerTls | undefined>).value!
    assert.notInclude(String(tls.key), "PRIVATE KEY")
    assert.include(Redacted.value(tls.key), "PRIVATE KEY")
  })

  it("one without the other, a file that cannot be read or holds no PEM, or a key of another certificate: refused naming the variable, never the key", () => {
    assert.include(refused({ K2_API_TLS_CERT_FILE: file("server.crt") }), "K2_API_TLS_CERT_FILE without K2_API_TLS_KEY_FILE")
    assert.include(refused({ K2_API_TLS_KEY_FILE: file("server.key") }), "K2_API_TLS_KEY_FILE without K2_API_TLS_CERT_FILE")
    assert.include(refused({ K2_API_TLS_CERT_FILE: file("missing.crt"), K2_API_TLS_KEY_FILE: file("server.key") }), "K2_API_TLS_CERT_FILE: cannot read")
    assert.include(refused({ K2_API_TLS_CERT_FILE: file("server.crt"), K2_API_TLS_KEY_FILE: file("server.crt") }), "K2_API_TLS_KEY_FILE")
    const mismatched = refused({ K2_API_TLS_CERT_FILE: file("server.crt"), K2_API_TLS_KEY_FILE: file("other.key") })
    assert.include(mismatched, "are not a certificate and its key")
    assert.notInclude(mismatched, fs.readFileSync(file("other.key"), "utf8").split("\n")[1]!)
  })
})
