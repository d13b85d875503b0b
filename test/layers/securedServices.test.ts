/**
 * K2's clients of the schema registry and the catalogs meeting a secured server (ADR-59): a
 * certificate Node does not trust (test/fixtures/tls: a private CA not given) and credentials refused
 * fail at once naming the setting to fix, rather than being waited out as a server that is down.
 */
import * as http from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { classifySqlError } from "../../src/layers/catalog/drivers.ts"
import * as Rest from "../../src/layers/catalog/rest.ts"
import * as SqlCatalog from "../../src/layers/catalog/sql.ts"
import * as FileIOs from "../../src/layers/iceberg/fileio.ts"
import { layerHttp, wireCodecFor } from "../../src/layers/kafka/schemaRegistry.ts"
import { Catalog } from "../../src/services/Catalog.ts"
import { SchemaRegistry } from "../../src/services/SchemaRegistry.ts"
import { listening } from "../support/httpServer.ts"
import { listeningPgTls, listeningTls } from "../support/tlsServer.ts"

const topics = { trades: "market.equities.trades.asx", quotes: "market.equities.quotes.asx" }

const schemaById = (id: number) => Effect.gen(function*() {
  return yield* (yield* SchemaRegistry).schemaById(id)
})

const catalog = Effect.gen(function*() {
  return yield* Catalog
})

describe("secured services", () => {
  it.live("registry: an untrusted certificate refuses at start, naming NODE_EXTRA_CA_CERTS; by id it is waited for", () =>
    Effect.scoped(Effect.gen(function*() {
      const port = yield* listeningTls((_, res) => res.end("{}"))
      const layer = layerHttp({ url: `https://127.0.0.1:${port}` })
      const start = yield* Effect.flip(Effect.provide(wireCodecFor(topics), layer))
      assert.strictEqual(start.reason._tag, "RegistryRejected")
      assert.isFalse(start.retryable)
      assert.include(start.message, "UNABLE_TO_VERIFY_LEAF_SIGNATURE")
      assert.include(start.message, "NODE_EXTRA_CA_CERTS")
      // A writer schema met while ingesting: a refusal would dead-letter its records.
      const byId = yield* Effect.flip(Effect.provide(schemaById(7), layer))
      assert.strictEqual(byId.reason._tag, "RegistryUnavailable")
      assert.include(byId.message, "NODE_EXTRA_CA_CERTS")
    })))

  it.live("registry: credentials refused (401) or a key that may not (403) refuse at start, naming K2_SCHEMA_REGISTRY_URL, without the secret", () =>
    Effect.scoped(Effect.gen(function*() {
      let status = 401
      const port = yield* listening(http.createServer((_, res) => {
        res.writeHead(status, { "content-type": "application/json" })
        res.end(JSON.stringify({ error_code: status, message: status === 401 ? "Unauthorized" : "Forbidden" }))
      }))
      const layer = layerHttp({ url: `http://key:s3cret@127.0.0.1:${port}` })
      const refused = yield* Effect.flip(Effect.provide(wireCodecFor(topics), layer))
      assert.strictEqual(refused.reason._tag, "RegistryRejected")
      assert.include(refused.message, "refused K2's credentials")
      assert.include(refused.message, "K2_SCHEMA_REGISTRY_URL")
      assert.notInclude(refused.message, "s3cret")
      status = 403
      const denied = yield* Effect.flip(Effect.provide(wireCodecFor(topics), layer))
      assert.strictEqual(denied.reason._tag, "RegistryRejected")
      const byId = yield* Effect.flip(Effect.provide(schemaById(7), layer))
      assert.strictEqual(byId.reason._tag, "RegistryUnavailable")
      assert.include(byId.message, "K2_SCHEMA_REGISTRY_URL")
    })))

  it.live("REST catalog: an untrusted certificate is CatalogRejected, naming NODE_EXTRA_CA_CERTS", () =>
    Effect.scoped(Effect.gen(function*() {
      const port = yield* listeningTls((_, res) => res.end("{}"))
      const failure = yield* Effect.flip(Effect.provide(catalog, Rest.layer({ uri: `https://127.0.0.1:${port}` })))
      assert.strictEqual(failure.reason._tag, "CatalogRejected")
      assert.include(failure.message, "UNABLE_TO_VERIFY_LEAF_SIGNATURE")
      assert.include(failure.message, "NODE_EXTRA_CA_CERTS")
    })))

  it.live("REST catalog: a URI with user info is CatalogRejected, the secret not shown (fetch's refusal echoed it)", () =>
    Effect.gen(function*() {
      const failure = yield* Effect.flip(Effect.provide(catalog, Rest.layer({ uri: "http://user:s3cret@127.0.0.1:1" })))
      assert.strictEqual(failure.reason._tag, "CatalogRejected")
      assert.include(failure.message, "K2_REST_CREDENTIAL")
      assert.notInclude(failure.message, "s3cret")
    }))

  it.live("PostgreSQL catalog: an untrusted certificate is CatalogRejected, naming sslrootcert, the password not shown", () =>
    Effect.scoped(Effect.gen(function*() {
      const port = yield* listeningPgTls()
      const layer = SqlCatalog.layerPostgres({
        name: "k2",
        warehouse: "file:///warehouse",
        url: `postgresql://k2:s3cret@127.0.0.1:${port}/k2?sslmode=verify-full`
      }).pipe(Layer.provide(FileIOs.layerMemory))
      const failure = yield* Effect.flip(Effect.provide(catalog, layer))
      assert.strictEqual(failure.reason._tag, "CatalogRejected")
      assert.include(failure.message, "UNABLE_TO_VERIFY_LEAF_SIGNATURE")
      assert.include(failure.message, "sslrootcert")
      assert.notInclude(failure.message, "s3cret")
    })))

  it("PostgreSQL catalog: a login refused (class 28) or no such database (3D000) is refused, not waited out", () => {
    for (const code of ["28P01", "28000", "3D000"]) {
      assert.strictEqual(classifySqlError(Object.assign(new Error("password authentication failed for user \"k2\""), { code })), "refused", code)
    }
  })
})
