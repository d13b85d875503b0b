/**
 * A REST catalog table load not cached (docs/benchmarks.md, "Reading metadata.json"): the client
 * against an in-process server answering a LoadTableResult of `K2_REST_SNAPSHOTS` snapshots (default
 * 30,000) with ingest-sized summaries, each answer at a new metadata-location so that none is a
 * cache hit. Prints the median process CPU time of `K2_REST_RUNS` loads (default 7).
 *
 * npm exec -- node --disable-warning=ExperimentalWarning bench/restLoad.ts
 */
import { Effect, Layer } from "effect"
import { HttpClient, HttpClientResponse } from "effect/http"
import { stringifyJson } from "../src/domain/iceberg/json.ts"
import { newSnapshotId } from "../src/domain/iceberg/metadata.ts"
import * as Rest from "../src/layers/catalog/rest.ts"
import { Catalog } from "../src/services/Catalog.ts"

const SNAPSHOTS = Number(process.env.K2_REST_SNAPSHOTS ?? 30_000)
const RUNS = Number(process.env.K2_REST_RUNS ?? 7)

const snapshots: Array<Record<string, unknown>> = []
let parent: bigint | undefined
for (let i = 0; i < SNAPSHOTS; i++) {
  const id = newSnapshotId()
  const partitions = Object.fromEntries(Array.from({ length: 12 }, (_, p) => [String(p), 600_000_000 + i * 12 + p]))
  snapshots.push({
    "sequence-number": BigInt(i + 1),
    "snapshot-id": id,
    ...(parent === undefined ? {} : { "parent-snapshot-id": parent }),
    "timestamp-ms": 1_700_000_000_000 + i * 1000,
    summary: {
      operation: "append", "added-data-files": "1", "added-records": "10", "total-records": String(10 * i),
      "k2.commit-id": crypto.randomUUID(), "k2.kafka.offsets.k2-ingest": JSON.stringify({ "market.equities.trades.asx": partitions })
    },
    "manifest-list": `file:///wh/market_data/trades/metadata/snap-${id}-1-${crypto.randomUUID()}.avro`,
    "schema-id": 0
  })
  parent = id
}
const metadata = stringifyJson({
  "format-version": 2, "table-uuid": crypto.randomUUID(), location: "file:///wh/market_data/trades",
  "last-sequence-number": BigInt(SNAPSHOTS), "last-updated-ms": 1_700_000_000_000, "last-column-id": 1, "current-schema-id": 0,
  schemas: [{ type: "struct", "schema-id": 0, fields: [{ id: 1, name: "x", required: false, type: "int" }] }],
  "default-spec-id": 0, "partition-specs": [{ "spec-id": 0, fields: [] }], "last-partition-id": 999,
  "default-sort-order-id": 0, "sort-orders": [{ "order-id": 0, fields: [] }], properties: {},
  "current-snapshot-id": parent, refs: { main: { "snapshot-id": parent, type: "branch" } }, snapshots, "snapshot-log": [], "metadata-log": []
})
let answers = 0
const server = Layer.succeed(HttpClient.HttpClient)(HttpClient.make((request, url) =>
  Effect.sync(() =>
    HttpClientResponse.fromWeb(
      request,
      url.pathname === "/v1/config"
        ? Response.json({ overrides: {} })
        : new Response(`{"metadata-location":"file:///wh/market_data/trades/metadata/${answers++}.metadata.json","metadata":${metadata}}`)
    )
  )
))

const cpu: Array<number> = []
await Effect.runPromise(Effect.gen(function*() {
  const catalog = yield* Catalog
  for (let r = 0; r < RUNS; r++) {
    const started = process.cpuUsage()
    yield* catalog.loadTable({ namespace: "market_data", name: "trades" })
    const used = process.cpuUsage(started)
    cpu.push((used.user + used.system) / 1000)
  }
}).pipe(Effect.provide(Layer.effect(Catalog)(Rest.make({ uri: "http://catalog.test" })).pipe(Layer.provide(server)))))
cpu.sort((a, b) => a - b)
console.log(`${SNAPSHOTS} snapshots, ${(metadata.length / 1e6).toFixed(1)} MB: a load not cached ${cpu[Math.floor(RUNS / 2)]!.toFixed(0)} ms CPU (median of ${RUNS})`)
