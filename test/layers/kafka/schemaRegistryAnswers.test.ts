/**
 * The HTTP registry client against a server answering each request as scripted: which answers
 * are waited out, refused or taken, what is cached, and what goes out with each request.
 */
import * as http from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tradeSchema } from "../../../src/domain/avro/schemas.ts"
import { layerEmbedded, layerHttp } from "../../../src/layers/kafka/schemaRegistry.ts"
import { SchemaRegistry } from "../../../src/services/SchemaRegistry.ts"
import { listening } from "../../support/httpServer.ts"

interface Asked {
  readonly method: string
  readonly url: string
  readonly headers: http.IncomingHttpHeaders
}

/** A server answering the n-th request with `answers[n]` (the last one once they run out). */
const scripted = (answers: ReadonlyArray<readonly [number, string]>) => {
  const asked: Array<Asked> = []
  const server = http.createServer((req, res) => {
    const [status, text] = answers[Math.min(asked.length, answers.length - 1)]!
    asked.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers })
    req.resume()
    req.on("end", () => res.writeHead(status, { "content-type": "application/vnd.schemaregistry.v1+json" }).end(text))
  })
  const url = Effect.map(listening(server), (port) => `http://127.0.0.1:${port}`)
  return { asked, url }
}

const subject = "market.equities.trades.asx-value"
const registry = Effect.gen(function*() {
  return yield* SchemaRegistry
})

describe("HTTP schema registry: answers", () => {
  it.live("a rate limit, a request timeout or any 5xx is waited out; another 4xx is refused, with the registry's words", () =>
    Effect.gen(function*() {
      for (const [status, reason] of [[429, "RegistryUnavailable"], [408, "RegistryUnavailable"], [500, "RegistryUnavailable"], [422, "RegistryRejected"]] as const) {
        const server = scripted([[status, JSON.stringify({ error_code: status * 100 + 1, message: "scripted" })]])
        const url = yield* server.url
        const failure = yield* Effect.flip(Effect.flatMap(registry, (r) => r.register(subject, tradeSchema)).pipe(Effect.provide(layerHttp({ url }))))
        assert.strictEqual(failure.reason._tag, reason, String(status))
      }
      // A body that is an array is no registry answer: its text is the detail.
      const server = scripted([[503, "[\"maintenance window\"]"]])
      const url = yield* server.url
      const failure = yield* Effect.flip(Effect.flatMap(registry, (r) => r.register(subject, tradeSchema)).pipe(Effect.provide(layerHttp({ url }))))
      assert.include(failure.message, "maintenance window")
    }).pipe(Effect.scoped))

  it.live("any 2xx holding a schema id is an answer; an id that is no registry id (negative, past an int) is refused", () =>
    Effect.gen(function*() {
      const idOf = (status: number, body: unknown) =>
        Effect.gen(function*() {
          const url = yield* scripted([[status, JSON.stringify(body)]]).url
          return yield* Effect.result(Effect.flatMap(registry, (r) => r.register(subject, tradeSchema)).pipe(Effect.provide(layerHttp({ url }))))
        })
      const created = yield* idOf(201, { id: 7 })
      assert.isTrue(created._tag === "Success" && created.success === 7)
      for (const id of [-1, 0x80000000]) {
        const refused = yield* idOf(200, { id })
        assert.isTrue(refused._tag === "Failure" && refused.failure.reason._tag === "RegistryRejected", String(id))
      }
    }).pipe(Effect.scoped))

  it.live("a schema by id that is JSON but no Avro record schema (a Protobuf or primitive text) is refused, not taken", () =>
    Effect.gen(function*() {
      const url = yield* scripted([[200, JSON.stringify({ schema: "\"string\"", schemaType: "PROTOBUF" })]]).url
      const failure = yield* Effect.flip(Effect.flatMap(registry, (r) => r.schemaById(9)).pipe(Effect.provide(layerHttp({ url }))))
      assert.strictEqual(failure.reason._tag, "RegistryRejected")
    }).pipe(Effect.scoped))
})

describe("HTTP schema registry: a registry that does not answer", () => {
  it.live("is given up on after the per-request timeout, waited out (retryable), saying so", () =>
    Effect.gen(function*() {
      const server = http.createServer(() => {}) // never answers
      const port = yield* listening(server)
      const failure = yield* Effect.flip(Effect.flatMap(registry, (r) => r.schemaById(7)).pipe(
        Effect.provide(layerHttp({ url: `http://127.0.0.1:${port}`, timeoutMs: 50 }))
      ))
      assert.strictEqual(failure.reason._tag, "RegistryUnavailable")
      assert.include(failure.message, "GET /schemas/ids/7: no answer within 50 ms")
    }).pipe(Effect.scoped))
})

describe("HTTP schema registry: redirects", () => {
  it.live("a redirect is not followed (fetch turns a 301's POST into a GET, and drops credentials across origins): not an answer, naming its target", () =>
    Effect.gen(function*() {
      const asked: Array<string> = []
      const server = http.createServer((req, res) => {
        asked.push(`${req.method} ${req.url}`)
        req.resume()
        req.on("end", () => {
          if (req.url?.startsWith("/old/")) {
            res.writeHead(301, { location: `http://127.0.0.1:${port}/new${req.url.slice("/old".length)}` }).end()
          } else {
            // The subject's versions, which a GET of the registration path lists.
            res.writeHead(200, { "content-type": "application/vnd.schemaregistry.v1+json" }).end("[1]")
          }
        })
      })
      const port = yield* listening(server)
      const failure = yield* Effect.flip(Effect.flatMap(registry, (r) => r.register(subject, tradeSchema)).pipe(
        Effect.provide(layerHttp({ url: `http://127.0.0.1:${port}/old` }))
      ))
      assert.deepStrictEqual(asked, [`POST /old/subjects/${subject}/versions`])
      // Not the registry's answer: waited for (a record's schema id is not dead-lettered for it).
      assert.strictEqual(failure.reason._tag, "RegistryUnavailable")
      assert.include(failure.message, `redirects (301) to http://127.0.0.1:${port}/new/subjects/`)
    }).pipe(Effect.scoped))
})

describe("HTTP schema registry: requests", () => {
  it.live("a schema registered or fetched by id is not asked for again (a registry down meanwhile does not stop decoding)", () =>
    Effect.gen(function*() {
      const server = scripted([
        [200, JSON.stringify({ id: 4 })],
        [200, JSON.stringify({ schema: JSON.stringify(tradeSchema) })],
        [503, JSON.stringify({ error_code: 50301, message: "down" })]
      ])
      const url = yield* server.url
      yield* Effect.gen(function*() {
        const r = yield* SchemaRegistry
        assert.strictEqual(yield* r.register(subject, tradeSchema), 4)
        assert.deepStrictEqual(yield* r.schemaById(4), tradeSchema)
        assert.deepStrictEqual(yield* r.schemaById(5), tradeSchema)
        assert.deepStrictEqual(yield* r.schemaById(5), tradeSchema)
      }).pipe(Effect.provide(layerHttp({ url })))
      assert.deepStrictEqual(server.asked.map((a) => `${a.method} ${a.url}`), [`POST /subjects/${subject}/versions`, "GET /schemas/ids/5"])
    }).pipe(Effect.scoped))

  it.live("the configured headers go out with every request", () =>
    Effect.gen(function*() {
      const server = scripted([[200, JSON.stringify({ id: 1 })]])
      const url = yield* server.url
      yield* Effect.flatMap(registry, (r) => r.register(subject, tradeSchema)).pipe(
        Effect.provide(layerHttp({ url, headers: { authorization: "Bearer t0ken", "x-tenant": "k2" } }))
      )
      assert.strictEqual(server.asked[0]?.headers.authorization, "Bearer t0ken")
      assert.strictEqual(server.asked[0]?.headers["x-tenant"], "k2")
    }).pipe(Effect.scoped))
})

describe("embedded schema registry: subjects", () => {
  it.effect("only a topic's value subject (<topic>-value) holds a market schema", () =>
    Effect.gen(function*() {
      const r = yield* SchemaRegistry
      const refused = yield* Effect.flip(r.register("market.equities.trades.asx_VALUE", tradeSchema))
      assert.strictEqual(refused.reason._tag, "SchemaNotFound")
    }).pipe(Effect.provide(layerEmbedded)))
})
