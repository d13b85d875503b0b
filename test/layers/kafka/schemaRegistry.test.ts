/** The HTTP registry client against a tiny in-test server speaking the Confluent API subset. */
import * as http from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Result } from "effect"
import { instrumentSchema, quoteSchema, tradeSchema } from "../../../src/domain/avro/schemas.ts"
import { layerEmbedded, layerHttp, wireCodecFor } from "../../../src/layers/kafka/schemaRegistry.ts"
import { UsageError } from "../../../src/programs/cli/common.ts"
import { wireCodec } from "../../../src/programs/cli/kafka.ts"
import { drainRecord, programExitCode } from "../../../src/programs/cli/run.ts"
import { SchemaRegistry, type SchemaRegistryError } from "../../../src/services/SchemaRegistry.ts"
import { makeTrades } from "../../support/fixtures.ts"
import { listening } from "../../support/httpServer.ts"

/** Subjects -> versions of schema text; global ids shared by identical schema text (as Confluent). */
const fakeRegistry = () => {
  const ids = new Map<string, number>()
  const texts = new Map<number, string>()
  const subjects = new Map<string, Array<number>>()
  let failNext = 0
  let readOnly = false
  let odd: { readonly status: number; readonly text: string } | undefined
  const authorizations: Array<string | undefined> = []
  const requests: Array<string> = []
  const server = http.createServer((req, res) => {
    authorizations.push(req.headers.authorization)
    requests.push(`${req.method} ${decodeURIComponent(req.url ?? "")}`)
    let body = ""
    req.on("data", (c) => (body += c))
    req.on("end", () => {
      const send = (status: number, json: unknown) => {
        res.writeHead(status, { "content-type": "application/vnd.schemaregistry.v1+json" })
        res.end(JSON.stringify(json))
      }
      if (failNext > 0) {
        failNext--
        return send(503, { error_code: 50301, message: "unavailable" })
      }
      if (odd !== undefined) {
        res.writeHead(odd.status, { "content-type": "text/html" })
        res.end(odd.text)
        odd = undefined
        return
      }
      const url = decodeURIComponent(req.url ?? "")
      let m: RegExpMatchArray | null
      if (req.method === "POST" && (m = url.match(/^\/subjects\/([^/]+)\/versions$/))) {
        // Confluent's answer to a key with read rights only (a consumer's, in Confluent Cloud's RBAC).
        if (readOnly) return send(403, { error_code: 40301, message: `User is denied operation Write on Subject: ${m[1]}` })
        const { schema } = JSON.parse(body) as { schema: string }
        try {
          JSON.parse(schema)
        } catch {
          return send(422, { error_code: 42201, message: "Invalid schema" })
        }
        const versions = subjects.get(m[1]!) ?? []
        if (versions.length > 0 && JSON.parse(schema).name !== JSON.parse(texts.get(versions[0]!)!).name) {
          return send(409, { error_code: 409, message: "Schema being registered is incompatible" })
        }
        let id = ids.get(schema)
        if (id === undefined) {
          id = ids.size + 1
          ids.set(schema, id)
          texts.set(id, schema)
        }
        if (!versions.includes(id)) versions.push(id)
        subjects.set(m[1]!, versions)
        return send(200, { id })
      }
      if (req.method === "POST" && (m = url.match(/^\/subjects\/([^/]+)$/))) {
        const { schema } = JSON.parse(body) as { schema: string }
        const versions = subjects.get(m[1]!)
        if (versions === undefined) return send(404, { error_code: 40401, message: "Subject not found" })
        const id = ids.get(schema)
        const v = id === undefined ? -1 : versions.indexOf(id)
        if (v < 0) return send(404, { error_code: 40403, message: "Schema not found" })
        return send(200, { subject: m[1], id, version: v + 1, schema })
      }
      if (req.method === "GET" && (m = url.match(/^\/schemas\/ids\/(\d+)$/))) {
        const text = texts.get(Number(m[1]))
        return text === undefined ? send(404, { error_code: 40403, message: "Schema not found" }) : send(200, { schema: text })
      }
      if (req.method === "GET" && (m = url.match(/^\/subjects\/([^/]+)\/versions\/latest$/))) {
        const versions = subjects.get(m[1]!)
        if (versions === undefined) return send(404, { error_code: 40401, message: "Subject not found" })
        const id = versions.at(-1)!
        return send(200, { subject: m[1], id, version: versions.length, schema: texts.get(id) })
      }
      send(404, { error_code: 404, message: "no route" })
    })
  })
  return {
    server,
    /** The authorization header of each request, in order. */
    authorizations,
    /** Each request as "METHOD path", in order. */
    requests,
    failNextRequests: (n: number) => (failNext = n),
    /** Registering is denied from now on (403), as for a key allowed to read only; lookups still answer. */
    readOnly: () => (readOnly = true),
    /** The next request is answered by something that is not the registry (a proxy, a login page). */
    answerNextWith: (status: number, text: string) => (odd = { status, text }),
    start: () =>
      Effect.map(listening(server), (port) => `http://127.0.0.1:${port}`)
  }
}

const reasonOf = (exit: Exit.Exit<unknown, SchemaRegistryError>) =>
  Exit.isFailure(exit) ? (exit.cause.reasons.find((r) => r._tag === "Fail") as { error: SchemaRegistryError } | undefined)?.error.reason._tag : "success"

describe("SchemaRegistry", () => {
  it.live("HTTP client: register, lookup, by id, latest, and the error reasons", () =>
    Effect.gen(function*() {
      const fake = fakeRegistry()
      const url = yield* fake.start()
      yield* Effect.gen(function*() {
        const registry = yield* SchemaRegistry
        const subject = "market.equities.trades.asx-value"
        const id = yield* registry.register(subject, tradeSchema)
        assert.strictEqual(yield* registry.register(subject, tradeSchema), id, "idempotent")
        // The same schema under another subject keeps its global id.
        assert.strictEqual(yield* registry.register("market.equities.trades.chix-value", tradeSchema), id)
        const found = yield* registry.lookup(subject, tradeSchema)
        assert.strictEqual(found.id, id)
        assert.strictEqual(found.version, 1)
        assert.deepStrictEqual(yield* registry.schemaById(id), tradeSchema)
        assert.strictEqual((yield* registry.latest(subject)).id, id)
        assert.strictEqual(reasonOf(yield* Effect.exit(registry.schemaById(999))), "SchemaNotFound")
        assert.strictEqual(reasonOf(yield* Effect.exit(registry.lookup("nope-value", tradeSchema))), "SchemaNotFound")
        assert.strictEqual(reasonOf(yield* Effect.exit(registry.register(subject, quoteSchema))), "IncompatibleSchema")
        // Not the registry answering: no schema id taken from a page, no schema id judged unknown.
        fake.answerNextWith(200, "<html>sign in</html>")
        assert.strictEqual(reasonOf(yield* Effect.exit(registry.register(subject, tradeSchema))), "RegistryRejected")
        fake.answerNextWith(404, "<html>not found</html>")
        assert.strictEqual(reasonOf(yield* Effect.exit(registry.schemaById(998))), "RegistryUnavailable")
        fake.answerNextWith(401, "")
        assert.strictEqual(reasonOf(yield* Effect.exit(registry.schemaById(998))), "RegistryUnavailable")
        fake.failNextRequests(1)
        const unavailable = yield* Effect.exit(registry.latest(subject))
        assert.strictEqual(reasonOf(unavailable), "RegistryUnavailable")
        assert.isTrue(Exit.isFailure(unavailable) && (unavailable.cause.reasons[0] as { error: SchemaRegistryError }).error.retryable)
        const codec = yield* wireCodecFor({ trades: "market.equities.trades.asx", quotes: "market.equities.quotes.asx" })
        assert.strictEqual(codec.tradeSchemaId, id)
        assert.notStrictEqual(codec.quoteSchemaId, id)
      }).pipe(Effect.provide(layerHttp({ url })))
      // Nothing listening: unavailable (retryable).
      const down = yield* Effect.exit(
        Effect.gen(function*() {
          const registry = yield* SchemaRegistry
          return yield* registry.schemaById(1)
        }).pipe(Effect.provide(layerHttp({ url: "http://127.0.0.1:1" })))
      )
      assert.strictEqual(reasonOf(down), "RegistryUnavailable")
      // Why, not fetch's own "fetch failed" (a refused connection, an unknown host, a certificate).
      const closed = yield* Effect.scoped(listening(http.createServer()))
      const refused = yield* Effect.flip(Effect.gen(function*() {
        return yield* (yield* SchemaRegistry).schemaById(1)
      }).pipe(Effect.provide(layerHttp({ url: `http://127.0.0.1:${closed}` }))))
      assert.strictEqual(refused.reason._tag, "RegistryUnavailable")
      assert.include(refused.message, `GET /schemas/ids/1: connect ECONNREFUSED 127.0.0.1:${closed}`)
    }))

  it.live("the programs' codec: the registry's ids for the first topic of each kind, else the embedded ids", () =>
    Effect.gen(function*() {
      const fake = fakeRegistry()
      const url = yield* fake.start()
      const topics = ["reference.instruments.asx", "market.equities.quotes.asx", "market.equities.trades.asx", "market.equities.trades.chix"]
      const codec = yield* wireCodec(Option.some(url), topics)
      const ids = yield* Effect.gen(function*() {
        const registry = yield* SchemaRegistry
        return [
          (yield* registry.latest("market.equities.trades.asx-value")).id,
          (yield* registry.latest("market.equities.quotes.asx-value")).id,
          (yield* registry.latest("reference.instruments.asx-value")).id
        ]
      }).pipe(Effect.provide(layerHttp({ url })))
      assert.deepStrictEqual([codec.tradeSchemaId, codec.quoteSchemaId, codec.instrumentSchemaId], ids)
      const embedded = yield* wireCodec(Option.none(), topics)
      assert.deepStrictEqual([embedded.tradeSchemaId, embedded.quoteSchemaId, embedded.instrumentSchemaId], [1, 2, 3])
      const missing = yield* Effect.flip(wireCodec(Option.some(url), ["market.equities.trades.asx"]))
      // The usage error the programs' own check gives (exit 2), not a plain Error (exit 1).
      assert.instanceOf(missing, UsageError)
      assert.strictEqual(missing.message, "--schema-registry needs a trades and a quotes topic among market.equities.trades.asx")
      assert.strictEqual(programExitCode(Exit.fail(missing), drainRecord()), 2)
    }))

  it.live("the programs' codec waits out a registry that answers 503 for a while (one starting beside them); a refusal is not retried", () =>
    Effect.gen(function*() {
      const fake = fakeRegistry()
      const url = yield* fake.start()
      const topics = ["market.equities.quotes.asx", "market.equities.trades.asx"]
      fake.failNextRequests(3)
      const codec = yield* wireCodec(Option.some(url), topics)
      assert.deepStrictEqual([codec.tradeSchemaId, codec.quoteSchemaId], [1, 2])
      // A subject holding another record: IncompatibleSchema, refused on its one request.
      yield* Effect.gen(function*() {
        yield* (yield* SchemaRegistry).register("market.equities.trades.chix-value", quoteSchema)
      }).pipe(Effect.provide(layerHttp({ url })))
      const before = fake.requests.length
      const refused = yield* Effect.flip(wireCodec(Option.some(url), ["market.equities.trades.chix", "market.equities.quotes.asx"]))
      assert.include(refused.message, "incompatible")
      // Looked up (not there), then registered once: not retried.
      assert.deepStrictEqual(fake.requests.slice(before), [
        "POST /subjects/market.equities.trades.chix-value",
        "POST /subjects/market.equities.trades.chix-value/versions"
      ])
    }))

  it.live("a key that may only read: the ids of schemas already registered are looked up, nothing is registered", () =>
    Effect.gen(function*() {
      const fake = fakeRegistry()
      const url = yield* fake.start()
      const topics = { trades: "market.equities.trades.asx", quotes: "market.equities.quotes.asx", instruments: "reference.instruments.asx" }
      // The producer registered them (with a key that may write).
      const registered = yield* wireCodecFor(topics).pipe(Effect.provide(layerHttp({ url })))
      fake.readOnly()
      const before = fake.requests.length
      const codec = yield* wireCodecFor(topics).pipe(Effect.provide(layerHttp({ url })))
      assert.deepStrictEqual(
        [codec.tradeSchemaId, codec.quoteSchemaId, codec.instrumentSchemaId],
        [registered.tradeSchemaId, registered.quoteSchemaId, registered.instrumentSchemaId]
      )
      assert.deepStrictEqual(fake.requests.slice(before).filter((r) => r.endsWith("/versions")), [], "no registration asked")
      // Not registered yet and no right to register: the registry's refusal, with its words.
      const denied = yield* Effect.flip(
        wireCodecFor({ ...topics, trades: "market.equities.trades.chix" }).pipe(Effect.provide(layerHttp({ url })))
      )
      assert.include(denied.message, "denied operation Write")
    }))

  it.live("a codec without an instruments topic takes no instrument id: the registry's 3 may be a trade", () =>
    Effect.gen(function*() {
      const fake = fakeRegistry()
      const url = yield* fake.start()
      yield* Effect.gen(function*() {
        const registry = yield* SchemaRegistry
        // Two other subjects first: the trade schema gets global id 3, the embedded instrument id.
        yield* registry.register("reference.instruments.chix-value", instrumentSchema)
        yield* registry.register("market.equities.quotes.asx-value", quoteSchema)
        const codec = yield* wireCodecFor({ trades: "market.equities.trades.asx", quotes: "market.equities.quotes.asx" })
        assert.deepStrictEqual([codec.tradeSchemaId, codec.quoteSchemaId], [3, 2])
        const t = makeTrades({ count: 1, symbols: ["BHP"] })[0]!
        const decoded = codec.decode(codec.encodeTrade(t))
        assert.isTrue(Result.isSuccess(decoded) && decoded.success.kind === "trade", "our own trades decode as trades")
        // With trade 1 and quote 2 instead, id 3 (say, another trade version) is left to be learned.
        const other = yield* wireCodecFor({ trades: "market.equities.trades.chix", quotes: "market.equities.quotes.asx" })
        assert.isFalse(other.knows(1))
      }).pipe(Effect.provide(layerHttp({ url })))
      const fresh = fakeRegistry()
      const freshUrl = yield* fresh.start()
      const codec = yield* wireCodecFor({ trades: "market.equities.trades.asx", quotes: "market.equities.quotes.asx" }).pipe(
        Effect.provide(layerHttp({ url: freshUrl }))
      )
      assert.deepStrictEqual([codec.tradeSchemaId, codec.quoteSchemaId, codec.instrumentSchemaId], [1, 2, undefined])
      assert.isFalse(codec.knows(3), "an id the registry gave to no instrument subject is not read as an instrument")
    }))

  it.live("by id: a 2xx that is not the registry's waits, as does a null body; an id beyond an int is not found", () =>
    Effect.gen(function*() {
      const fake = fakeRegistry()
      const url = yield* fake.start()
      yield* Effect.gen(function*() {
        const registry = yield* SchemaRegistry
        fake.answerNextWith(200, "<html>sign in</html>")
        assert.strictEqual(reasonOf(yield* Effect.exit(registry.schemaById(5))), "RegistryUnavailable")
        fake.answerNextWith(200, "null")
        assert.strictEqual(reasonOf(yield* Effect.exit(registry.schemaById(5))), "RegistryUnavailable")
        fake.answerNextWith(503, "null")
        assert.strictEqual(reasonOf(yield* Effect.exit(registry.schemaById(5))), "RegistryUnavailable")
        // The registry's own 404 still says not found.
        assert.strictEqual(reasonOf(yield* Effect.exit(registry.schemaById(5))), "SchemaNotFound")
      }).pipe(Effect.provide(layerHttp({ url })))
      // Registries answer such paths with a bare 404 (no schema route takes the id): not asked at all.
      const beyond = yield* Effect.exit(
        Effect.gen(function*() {
          return yield* (yield* SchemaRegistry).schemaById(0x80000000)
        }).pipe(Effect.provide(layerHttp({ url: "http://127.0.0.1:1" })))
      )
      assert.strictEqual(reasonOf(beyond), "SchemaNotFound")
    }))

  it.live("by id: a JSON or Protobuf schema is refused as not Avro, saying its type; AVRO or no type is read", () =>
    Effect.gen(function*() {
      const fake = fakeRegistry()
      const url = yield* fake.start()
      yield* Effect.gen(function*() {
        const registry = yield* SchemaRegistry
        // A JSON Schema is JSON too: it was taken for an Avro schema (and refused later as "not a named record").
        fake.answerNextWith(200, JSON.stringify({ schemaType: "JSON", schema: JSON.stringify({ type: "object", title: "Trade" }) }))
        const json = yield* Effect.flip(registry.schemaById(5))
        assert.strictEqual(json.reason._tag, "RegistryRejected")
        assert.include(json.message, "schema id 5 is a JSON schema, not Avro")
        fake.answerNextWith(200, JSON.stringify({ schemaType: "PROTOBUF", schema: "syntax = \"proto3\";" }))
        assert.include((yield* Effect.flip(registry.schemaById(6))).message, "schema id 6 is a PROTOBUF schema, not Avro")
        fake.answerNextWith(200, JSON.stringify({ schemaType: "AVRO", schema: JSON.stringify(tradeSchema) }))
        assert.deepStrictEqual(yield* registry.schemaById(7), tradeSchema)
        fake.answerNextWith(200, JSON.stringify({ schema: JSON.stringify(quoteSchema) }))
        assert.deepStrictEqual(yield* registry.schemaById(8), quoteSchema)
      }).pipe(Effect.provide(layerHttp({ url })))
    }))

  it.live("credentials in the URL are sent as Basic authorization, never echoed; a URL that is not http(s) is refused", () =>
    Effect.gen(function*() {
      const fake = fakeRegistry()
      const url = yield* fake.start()
      const withCredentials = url.replace("http://", "http://key%40acme:s3cr%3At@")
      const id = yield* Effect.gen(function*() {
        return yield* (yield* SchemaRegistry).register("market.equities.trades.asx-value", tradeSchema)
      }).pipe(Effect.provide(layerHttp({ url: withCredentials })))
      assert.strictEqual(id, 1)
      assert.deepStrictEqual(fake.authorizations, [`Basic ${Buffer.from("key@acme:s3cr:t").toString("base64")}`])
      // A "%" that starts no escape is itself (not a URIError thrown while the layer is built).
      yield* Effect.gen(function*() {
        return yield* (yield* SchemaRegistry).register("market.equities.trades.asx-value", tradeSchema)
      }).pipe(Effect.provide(layerHttp({ url: url.replace("http://", "http://key:100%zz@") })))
      assert.strictEqual(fake.authorizations[1], `Basic ${Buffer.from("key:100%zz").toString("base64")}`)
      // Unreachable with credentials: the detail names the path, not the password.
      const down = yield* Effect.flip(Effect.gen(function*() {
        return yield* (yield* SchemaRegistry).schemaById(1)
      }).pipe(Effect.provide(layerHttp({ url: "http://user:s3cret@127.0.0.1:1" }))))
      assert.strictEqual(down.reason._tag, "RegistryUnavailable")
      assert.notInclude(down.message, "s3cret")
      // No scheme (read as scheme "localhost:") is a refusal at once, not an outage retried for ever.
      for (const bad of ["localhost:8081", "not a url", "ftp://127.0.0.1:8081"]) {
        const refused = yield* Effect.flip(Effect.gen(function*() {
          return yield* (yield* SchemaRegistry).register("market.equities.trades.asx-value", tradeSchema)
        }).pipe(Effect.provide(layerHttp({ url: bad }))))
        assert.strictEqual(refused.reason._tag, "RegistryRejected", bad)
        assert.include(refused.message, "http(s) URL")
      }
    }))

  it.effect("embedded: fixed ids trade = 1, quote = 2, instrument = 3", () =>
    Effect.gen(function*() {
      const registry = yield* SchemaRegistry
      assert.strictEqual(yield* registry.register("market.equities.trades.asx-value", tradeSchema), 1)
      assert.strictEqual(yield* registry.register("market.crypto.quotes.binance-value", quoteSchema), 2)
      assert.strictEqual(yield* registry.register("reference.instruments.asx-value", instrumentSchema), 3)
      assert.deepStrictEqual(yield* registry.schemaById(2), quoteSchema)
      assert.deepStrictEqual(yield* registry.schemaById(3), instrumentSchema)
      assert.strictEqual(reasonOf(yield* Effect.exit(registry.register("market.equities.trades.asx-value", quoteSchema))), "IncompatibleSchema")
      assert.strictEqual(reasonOf(yield* Effect.exit(registry.register("reference.instruments.asx-value", tradeSchema))), "IncompatibleSchema")
      assert.strictEqual(reasonOf(yield* Effect.exit(registry.schemaById(4))), "SchemaNotFound")
      const codec = yield* wireCodecFor({
        trades: "market.equities.trades.asx",
        quotes: "market.equities.quotes.asx",
        instruments: "reference.instruments.asx"
      })
      assert.deepStrictEqual([codec.tradeSchemaId, codec.quoteSchemaId, codec.instrumentSchemaId], [1, 2, 3])
    }).pipe(Effect.provide(layerEmbedded)))
})
