/**
 * The key surface of the pipeline, over a real node server: a key is matched by the bytes the
 * client sent, a browser script may read the headers it needs, and a key put in the query string
 * (a common client mistake, refused) does not reach the server span's attributes.
 */
import { createHash } from "node:crypto"
import { request as httpRequest } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Tracer } from "effect"
import { HttpServer, HttpServerResponse, UrlParams } from "effect/http"
import { defaults, type ServerOptions } from "../../../src/layers/http/config.ts"
import * as Server from "../../../src/layers/http/server.ts"
import { pipeline } from "../../../src/layers/http/pipeline.ts"
import { recording } from "../../support/tracing.ts"

/** As docs/api.md has the operator hash a key: `printf %s "$KEY" | sha256sum` (its UTF-8 bytes). */
const sha256OfBytes = (key: string) => createHash("sha256").update(Buffer.from(key, "utf8")).digest("hex")

const UNICODE_KEY = "clé-ключ-鍵"
const ASCII_KEY = "plain-key"

const settings: ServerOptions = {
  ...defaults,
  keys: [
    { name: "unicode", sha256: sha256OfBytes(UNICODE_KEY), scopes: new Set(["read"]) },
    { name: "ascii", sha256: sha256OfBytes(ASCII_KEY), scopes: new Set(["read"]) }
  ],
  corsOrigins: ["https://app.example.com"]
}

/** The pipeline over an app answering "ran", served as Server.layer serves it, on a node server of its own. */
const keyedServer = (tracer?: Tracer.Tracer) =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const context = yield* Layer.buildWithScope(Server.nodeServer({ port: 0, host: "127.0.0.1" }), scope)
    const serving = Server.serving(pipeline({ ...settings, warehouse: "/tmp" })(Effect.succeed(HttpServerResponse.text("ran"))))
    yield* Layer.buildWithScope(tracer === undefined ? serving : Layer.provide(serving, Layer.succeed(Tracer.Tracer, tracer)), scope).pipe(
      Effect.provideContext(context)
    )
    const server = yield* HttpServer.HttpServer.pipe(Effect.provideContext(context))
    return `http://127.0.0.1:${(server.address as { port: number }).port}`
  })

/** A GET with headers sent as the given bytes (fetch refuses what is not latin1), Node's own client. */
const rawGet = (url: string, headers: Record<string, Buffer>) =>
  Effect.promise(() =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(url, { headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.toString("latin1")])) }, (res) => {
        let body = ""
        res.setEncoding("utf8")
        res.on("data", (chunk) => body += chunk)
        res.on("end", () => resolve({ status: res.statusCode!, body }))
      })
      req.on("error", reject)
      req.end()
    })
  )

describe("API keys", () => {
  it.live("a key with characters outside ASCII, hashed from its UTF-8 bytes as documented and sent as those bytes, is known", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* keyedServer()
      // It was 401 "unknown API key": Node hands header bytes over as latin1, which were hashed re-encoded as UTF-8.
      for (const header of ["x-api-key", "authorization"] as const) {
        const value = Buffer.from(header === "x-api-key" ? UNICODE_KEY : `Bearer ${UNICODE_KEY}`, "utf8")
        assert.deepStrictEqual(yield* rawGet(`${url}/v1/symbols`, { [header]: value }), { status: 200, body: "ran" }, header)
      }
      assert.deepStrictEqual(yield* rawGet(`${url}/v1/symbols`, { "x-api-key": Buffer.from(ASCII_KEY) }), { status: 200, body: "ran" })
      // Another key's bytes are still unknown.
      assert.strictEqual((yield* rawGet(`${url}/v1/symbols`, { "x-api-key": Buffer.from("clé-ключ-鍵!", "utf8") })).status, 401)
    })))

  it.live("an allowed origin's script may read WWW-Authenticate (401) and Content-Disposition (Parquet answers)", () =>
    Effect.scoped(Effect.gen(function*() {
      const url = yield* keyedServer()
      const res = yield* Effect.promise(() => fetch(`${url}/v1/symbols`, { headers: { origin: "https://app.example.com" } }))
      yield* Effect.promise(() => res.text())
      assert.strictEqual(res.status, 401)
      assert.ok(res.headers.get("www-authenticate"))
      const exposed = (res.headers.get("access-control-expose-headers") ?? "").split(",").map((h) => h.trim().toLowerCase())
      for (const name of ["www-authenticate", "content-disposition", "k2-snapshot-ids", "k2-next-cursor", "k2-truncated", "retry-after"]) {
        assert.include(exposed, name)
      }
    })))

  it.live("a key given in the query string (refused) is not recorded in the server span; declared parameters are", () =>
    Effect.scoped(Effect.gen(function*() {
      const { spans, tracer } = recording()
      const url = yield* keyedServer(tracer)
      for (const query of [`api_key=${ASCII_KEY}`, `symbols=BHP&token=${ASCII_KEY}`, `symbols=BHP&X-API-KEY=${ASCII_KEY}`, `k=${ASCII_KEY}`]) {
        const res = yield* Effect.promise(() => fetch(`${url}/v1/symbols?${query}`))
        yield* Effect.promise(() => res.text())
        assert.strictEqual(res.status, 401, query)
      }
      const attributes = spans.filter((s) => s.kind === "server").map((s) => JSON.stringify([...s.attributes]))
      assert.strictEqual(attributes.length, 4)
      for (const recorded of attributes) {
        assert.include(recorded, "url.full")
        assert.notInclude(recorded, ASCII_KEY)
      }
      // What the route declares stays readable: the span still says what was asked.
      assert.include(attributes[1], "symbols=BHP")
    })))

  it.live("the handler's own spans (a REST catalog call's client span) redact as Effect does by default", () =>
    Effect.scoped(Effect.gen(function*() {
      const scope = yield* Effect.scope
      const context = yield* Layer.buildWithScope(Server.nodeServer({ port: 0, host: "127.0.0.1" }), scope)
      const app = Effect.gen(function*() {
        return HttpServerResponse.text(String(UrlParams.isRedactedName("pageToken", yield* UrlParams.CurrentRedactedNames)))
      })
      yield* Layer.buildWithScope(Server.serving(pipeline({ ...settings, auth: "off", warehouse: "/tmp" })(app)), scope).pipe(Effect.provideContext(context))
      const server = yield* HttpServer.HttpServer.pipe(Effect.provideContext(context))
      const res = yield* Effect.promise(() => fetch(`http://127.0.0.1:${(server.address as { port: number }).port}/v1/symbols`))
      assert.strictEqual(yield* Effect.promise(() => res.text()), "false")
    })))
})
