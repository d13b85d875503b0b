/**
 * The REST catalog client over Node's fetch (the layer K2 runs) against an in-process HTTP server
 * whose connections break: a kept-alive connection reset as it is reused, an answer cut short. A read
 * is sent again on a new connection; a change never is (a commit whose connection broke may have
 * landed: CommitStateUnknown, for its commit id to settle).
 */
import * as http from "node:http"
import type { Socket } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { tables } from "../../../src/domain/tables.ts"
import * as Rest from "../../../src/layers/catalog/rest.ts"
import { Catalog, type CatalogError } from "../../../src/services/Catalog.ts"
import { listening } from "../../support/httpServer.ts"

const trades = { namespace: "market_data", name: "trades" }

/** A LoadTableResult of a new trades table, padded with properties to `bytes` or so. */
const tableAnswer = (bytes: number) =>
  JSON.stringify({
    "metadata-location": "file:///wh/market_data/trades/metadata/00000-a.metadata.json",
    metadata: {
      "format-version": 2,
      "table-uuid": "9c12d441-03fe-4693-9a96-a0705ddf69c1",
      location: "file:///wh/market_data/trades",
      "last-sequence-number": 0,
      "last-updated-ms": 1,
      "last-column-id": Math.max(...tables.trades.schema.fields.map((f) => f.id)),
      "current-schema-id": 0,
      schemas: [tables.trades.schema],
      "default-spec-id": 0,
      "partition-specs": [tables.trades.spec],
      "last-partition-id": 1000 + tables.trades.spec.fields.length - 1,
      "default-sort-order-id": 0,
      "sort-orders": [{ "order-id": 0, fields: [] }],
      properties: { padding: "x".repeat(bytes) },
      "current-snapshot-id": -1,
      refs: {},
      snapshots: [],
      "snapshot-log": [],
      "metadata-log": []
    }
  })

type Break = "reset" | "cut"

/**
 * A catalog server answering /v1/config and a table load; `breaks` says how a request (its method,
 * its number counted from 1 with /v1/config left out, whether it came on a connection that carried
 * one before) meets its end: its connection reset as soon as the request is read, or its answer cut
 * after the headers and part of the body.
 */
const brittleServer = (breaks: (request: { readonly method: string; readonly n: number; readonly reused: boolean }) => Break | undefined) =>
  Effect.gen(function*() {
    const seen: Array<{ readonly method: string; readonly reused: boolean; readonly fault: Break | undefined }> = []
    const served = new WeakSet<Socket>()
    const body = tableAnswer(64 * 1024)
    const server = http.createServer((request, response) => {
      const path = new URL(request.url!, "http://catalog.test").pathname
      const socket = request.socket
      const reused = served.has(socket)
      served.add(socket)
      if (path === "/v1/config") return void response.end(JSON.stringify({ defaults: {}, overrides: {} }))
      const fault = breaks({ method: request.method!, n: seen.length + 1, reused })
      seen.push({ method: request.method!, reused, fault })
      if (fault === "reset") return void socket.resetAndDestroy()
      response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
      if (fault === "cut") {
        response.write(body.slice(0, 2048))
        return void setTimeout(() => socket.resetAndDestroy(), 20)
      }
      response.end(body)
    })
    const port = yield* listening(server)
    return { uri: `http://127.0.0.1:${port}`, seen }
  })

const withCatalog = <A>(uri: string, f: (catalog: Catalog["Service"]) => Effect.Effect<A, CatalogError>) =>
  Effect.flatMap(Effect.service(Catalog), f).pipe(Effect.provide(Rest.layer({ uri })))

describe("REST catalog client: connections that break", () => {
  it.live("a read whose kept-alive connection is reset as it is reused is sent again on a new one, and answers", () =>
    Effect.gen(function*() {
      // The first request that comes on a connection used before is reset (loads in a row reuse one).
      let reset = false
      const server = yield* brittleServer((r) => r.reused && !reset ? (reset = true, "reset") : undefined)
      yield* withCatalog(server.uri, (c) =>
        Effect.gen(function*() {
          for (let i = 0; i < 5; i++) {
            const loaded = yield* c.loadTable(trades)
            assert.strictEqual(loaded.metadata["table-uuid"], "9c12d441-03fe-4693-9a96-a0705ddf69c1")
          }
        }))
      assert.isTrue(reset, "a kept-alive connection was reused")
      assert.strictEqual(server.seen.length, 6, "five loads, one of them sent twice")
    }).pipe(Effect.scoped))

  it.live("a read whose answer is cut short is sent again, and answers", () =>
    Effect.gen(function*() {
      const server = yield* brittleServer((r) => r.n === 1 ? "cut" : undefined)
      const loaded = yield* withCatalog(server.uri, (c) => c.loadTable(trades))
      assert.strictEqual(loaded.metadataLocation, "file:///wh/market_data/trades/metadata/00000-a.metadata.json")
      assert.strictEqual(server.seen.length, 2)
    }).pipe(Effect.scoped))

  it.live("a read whose connection breaks again is sent once more only: CatalogUnavailable saying why", () =>
    Effect.gen(function*() {
      const server = yield* brittleServer(() => "reset")
      const exit = yield* Effect.exit(withCatalog(server.uri, (c) => c.loadTable(trades)))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
      const reason = (error as { error: CatalogError } | undefined)?.error
      assert.strictEqual(reason?.reason._tag, "CatalogUnavailable")
      assert.match(reason?.message ?? "", /GET http:\/\/127\.0\.0\.1:\d+\/v1\/namespaces\/market_data\/tables\/trades: .*ECONNRESET|other side closed/)
      assert.strictEqual(server.seen.length, 2)
    }).pipe(Effect.scoped))

  it.live("a commit whose connection is reset, or whose answer is cut, is never sent again: its outcome is unknown", () =>
    Effect.gen(function*() {
      for (const fault of ["reset", "cut"] as const) {
        const server = yield* brittleServer(() => fault)
        const exit = yield* Effect.exit(withCatalog(server.uri, (c) => c.commitTable(trades, [], [])))
        const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
        assert.strictEqual((error as { error: CatalogError } | undefined)?.error.reason._tag, "CommitStateUnknown", fault)
        assert.deepStrictEqual(server.seen.map((r) => r.method), ["POST"], fault)
      }
    }).pipe(Effect.scoped))
})

describe("REST catalog client: a fixed token no HTTP header carries", () => {
  it.live("is refused for good, before any request, without the token in the message: not an outage waited out while logging it", () =>
    Effect.gen(function*() {
      let requests = 0
      const server = http.createServer((_request, response) => {
        requests++
        response.end(JSON.stringify({ defaults: {}, overrides: {} }))
      })
      const port = yield* listening(server)
      for (const token of ["s3cret\nline2", "s3cret\u0000x", "s3cr\u20ACt"]) {
        const exit = yield* Effect.exit(Effect.flatMap(Effect.service(Catalog), (c) => c.listNamespaces()).pipe(
          Effect.provide(Rest.layer({ uri: `http://127.0.0.1:${port}`, token }))
        ))
        assert.isTrue(Exit.isFailure(exit))
        const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
        const error = (failure as { error: CatalogError } | undefined)?.error
        assert.strictEqual(error?.reason._tag, "CatalogRejected", JSON.stringify(token))
        assert.notInclude(error?.message ?? "", "s3cr")
        assert.include(error?.message ?? "", "K2_REST_TOKEN")
      }
      assert.strictEqual(requests, 0)
      // Whitespace around a token is trimmed as fetch trims it: such a token is sent.
      const ok = yield* Effect.flatMap(Effect.service(Catalog), (c) => c.listNamespaces()).pipe(
        Effect.provide(Rest.layer({ uri: `http://127.0.0.1:${port}`, token: " s3cret\n" })),
        Effect.exit
      )
      assert.isTrue(Exit.isSuccess(ok))
      assert.isTrue(requests > 0)
    }).pipe(Effect.scoped))
})

describe("REST catalog client: a token the server hands out that no HTTP header carries", () => {
  it.live("is refused for good, naming the token endpoint and what is wrong, without the token: not fetch's error echoing it", () =>
    Effect.gen(function*() {
      let issued = ""
      const requests: Array<string> = []
      const server = http.createServer((request, response) => {
        const path = new URL(request.url!, "http://catalog.test").pathname
        requests.push(path)
        response.setHeader("content-type", "application/json")
        response.end(path === "/v1/oauth/tokens"
          ? JSON.stringify({ access_token: issued, token_type: "bearer" })
          : JSON.stringify({ defaults: {}, overrides: {} }))
      })
      const port = yield* listening(server)
      for (const token of ["s3cret\nline2", "s3cret\u0000x", "s3cr\u20ACt"]) {
        issued = token
        requests.length = 0
        const exit = yield* Effect.exit(Effect.flatMap(Effect.service(Catalog), (c) => c.listNamespaces()).pipe(
          Effect.provide(Rest.layer({ uri: `http://127.0.0.1:${port}`, credential: "k2:secret" }))
        ))
        const failure = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
        const error = (failure as { error: CatalogError } | undefined)?.error
        assert.strictEqual(error?.reason._tag, "CatalogRejected", JSON.stringify(token))
        assert.notInclude(error?.message ?? "", "s3cr")
        assert.include(error?.message ?? "", "OAuth2 token")
        // Never sent with it: the token request alone reached the server.
        assert.deepStrictEqual(requests, ["/v1/oauth/tokens"], JSON.stringify(token))
      }
    }).pipe(Effect.scoped))
})
