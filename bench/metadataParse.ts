/**
 * Decoding a metadata.json of K2's shape (docs/benchmarks.md, "Reading metadata.json"): for each of
 * `K2_PARSE_SNAPSHOTS` (default 3,600 and 86,400: an hour and a day of one-second commits kept),
 * a table's metadata with Java's random 63-bit snapshot ids and ingest-sized summaries, parsed by a
 * plain JSON.parse (inexact: what the others are measured against), the reviver reading every
 * number's source (ADR-60's before), parseJson, and decodeTableMetadata (parseJson and the checks).
 * Prints the median time, MB/s and the heap the value holds.
 *
 * npm exec -- node --disable-warning=ExperimentalWarning --expose-gc bench/metadataParse.ts
 */
import { Result } from "effect"
import { parseJson, parseJsonRevived } from "../src/domain/iceberg/json.ts"
import { newSnapshotId } from "../src/domain/iceberg/metadata.ts"
import { decodeTableMetadata, encodeTableMetadata } from "../src/domain/iceberg/metadataFile.ts"
import type { Snapshot, TableMetadata } from "../src/domain/iceberg/spec.ts"

/** A marker as ingest writes one: 12 partitions of one topic. */
const marker = (i: number) => {
  const partitions: Record<string, number> = {}
  for (let p = 0; p < 12; p++) partitions[String(p)] = 1_000_000 + i * 12 + p
  return JSON.stringify({ "market.equities.trades.asx": partitions })
}

const metadataText = (n: number): string => {
  const snapshots: Array<Snapshot> = []
  let parent: bigint | undefined
  const now = Date.now()
  for (let i = 0; i < n; i++) {
    const id = newSnapshotId()
    snapshots.push({
      "sequence-number": BigInt(i + 1),
      "snapshot-id": id,
      ...(parent === undefined ? {} : { "parent-snapshot-id": parent }),
      "timestamp-ms": now - (n - i) * 1000,
      summary: {
        operation: "append", "added-data-files": "1", "added-records": "10", "total-records": String(10 * i),
        "total-data-files": String(i), "k2.commit-id": crypto.randomUUID(), "k2.kafka.offsets.k2-ingest": marker(i),
        "k2.kafka.topic-ids.k2-ingest": JSON.stringify({ "market.equities.trades.asx": "q1w2e3r4t5y6u7i8o9p0aa" })
      },
      "manifest-list": `file:///wh/market_data/trades/metadata/snap-${id}-1-${crypto.randomUUID()}.avro`,
      "schema-id": 0
    } as Snapshot)
    parent = id
  }
  return new TextDecoder().decode(encodeTableMetadata({
    "format-version": 2, "table-uuid": crypto.randomUUID(), location: "file:///wh/market_data/trades",
    "last-sequence-number": BigInt(n), "last-updated-ms": now, "last-column-id": 1, "current-schema-id": 0,
    schemas: [{ type: "struct", "schema-id": 0, fields: [{ id: 1, name: "x", required: false, type: "int" }] }],
    "default-spec-id": 0, "partition-specs": [{ "spec-id": 0, fields: [] }], "last-partition-id": 999,
    "default-sort-order-id": 0, "sort-orders": [{ "order-id": 0, fields: [] }], properties: {},
    "current-snapshot-id": parent, refs: { main: { "snapshot-id": parent!, type: "branch" } }, snapshots,
    "snapshot-log": snapshots.map((s) => ({ "snapshot-id": s["snapshot-id"], "timestamp-ms": s["timestamp-ms"] })),
    "metadata-log": []
  } as unknown as TableMetadata))
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const measure = (label: string, mb: number, runs: number, f: () => unknown) => {
  const times: Array<number> = []
  let held = 0
  for (let r = 0; r < runs; r++) {
    gc()
    const before = process.memoryUsage().heapUsed
    const started = performance.now()
    let value: unknown = f()
    times.push(performance.now() - started)
    gc()
    held = process.memoryUsage().heapUsed - before
    if (value === undefined) throw new Error(`${label}: nothing`)
    value = undefined
  }
  times.sort((a, b) => a - b)
  const median = times[Math.floor(times.length / 2)]!
  console.log(`  ${label.padEnd(30)} ${median.toFixed(0).padStart(6)} ms  ${(mb / median * 1000).toFixed(0).padStart(4)} MB/s  value ${(held / 1e6).toFixed(0)} MB`)
}

for (const n of (process.env.K2_PARSE_SNAPSHOTS ?? "3600,86400").split(",").map(Number)) {
  const text = metadataText(n)
  const mb = Buffer.byteLength(text) / 1e6
  const runs = n > 10_000 ? 5 : 21
  console.log(`${n} snapshots, ${mb.toFixed(1)} MB (median of ${runs})`)
  measure("JSON.parse (inexact)", mb, runs, () => JSON.parse(text))
  measure("reviver (before)", mb, runs, () => parseJsonRevived(text))
  measure("parseJson", mb, runs, () => parseJson(text))
  measure("decodeTableMetadata", mb, runs, () => Result.getOrThrow(decodeTableMetadata(text, "m.json", "t")))
}
