/**
 * Decoding a metadata.json of K2's shape (docs/benchmarks.md, "Reading metadata.json"): for each of
 * `K2_PARSE_SNAPSHOTS` (default 3,600 and 86,400: an hour and a day of one-second commits kept),
 * a table's metadata with Java's random 63-bit snapshot ids and ingest-sized summaries (markers of
 * `K2_PARSE_PARTITIONS` partitions, default 12), parsed by a plain JSON.parse (inexact: what the
 * others are measured against), the reviver reading every number's source (ADR-60's before),
 * parseJson, parseJsonBytes (the file's bytes in 1 MiB pieces, never one string, ADR-77; and in one piece),
 * and decodeTableMetadata of the text and of the bytes (the parse and the checks). Prints the bytes a
 * snapshot adds, the median time, MB/s, the process CPU time and the heap the value holds.
 * `K2_PARSE_ONLY=bytes` measures decodeTableMetadata of the bytes alone (a file past 512 MiB has no text).
 *
 * npm exec -- node --disable-warning=ExperimentalWarning --expose-gc bench/metadataParse.ts
 */
import { Result } from "effect"
import { parseJson, parseJsonRevived } from "../src/domain/iceberg/json.ts"
import { parseJsonBytes } from "../src/domain/iceberg/jsonBytes.ts"
import { newSnapshotId } from "../src/domain/iceberg/metadata.ts"
import { decodeTableMetadata, encodeTableMetadata } from "../src/domain/iceberg/metadataFile.ts"
import type { Snapshot, TableMetadata } from "../src/domain/iceberg/spec.ts"

const PARTITIONS = Number(process.env.K2_PARSE_PARTITIONS ?? 12)

/** A marker as ingest writes one: the partitions of one topic. */
const marker = (i: number) => {
  const partitions: Record<string, number> = {}
  for (let p = 0; p < PARTITIONS; p++) partitions[String(p)] = 1_000_000 + i * 12 + p
  return JSON.stringify({ "market.equities.trades.asx": partitions })
}

const metadataBytes = (n: number): Uint8Array => {
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
  return encodeTableMetadata({
    "format-version": 2, "table-uuid": crypto.randomUUID(), location: "file:///wh/market_data/trades",
    "last-sequence-number": BigInt(n), "last-updated-ms": now, "last-column-id": 1, "current-schema-id": 0,
    schemas: [{ type: "struct", "schema-id": 0, fields: [{ id: 1, name: "x", required: false, type: "int" }] }],
    "default-spec-id": 0, "partition-specs": [{ "spec-id": 0, fields: [] }], "last-partition-id": 999,
    "default-sort-order-id": 0, "sort-orders": [{ "order-id": 0, fields: [] }], properties: {},
    "current-snapshot-id": parent, refs: { main: { "snapshot-id": parent!, type: "branch" } }, snapshots,
    "snapshot-log": snapshots.map((s) => ({ "snapshot-id": s["snapshot-id"], "timestamp-ms": s["timestamp-ms"] })),
    "metadata-log": []
  } as unknown as TableMetadata)
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const measure = (label: string, mb: number, runs: number, f: () => unknown) => {
  const times: Array<number> = []
  const cpus: Array<number> = []
  let held = 0
  for (let r = 0; r < runs; r++) {
    gc()
    const before = process.memoryUsage().heapUsed
    const started = performance.now()
    const cpu = process.cpuUsage()
    let value: unknown = f()
    const used = process.cpuUsage(cpu)
    times.push(performance.now() - started)
    cpus.push((used.user + used.system) / 1000)
    gc()
    held = process.memoryUsage().heapUsed - before
    if (value === undefined) throw new Error(`${label}: nothing`)
    value = undefined
  }
  times.sort((a, b) => a - b)
  cpus.sort((a, b) => a - b)
  const median = times[Math.floor(times.length / 2)]!
  const cpu = cpus[Math.floor(cpus.length / 2)]!
  console.log(
    `  ${label.padEnd(30)} ${median.toFixed(0).padStart(6)} ms  ${(mb / median * 1000).toFixed(0).padStart(4)} MB/s  ${cpu.toFixed(0).padStart(6)} ms CPU  value ${(held / 1e6).toFixed(0)} MB`
  )
}

const only = process.env.K2_PARSE_ONLY
for (const n of (process.env.K2_PARSE_SNAPSHOTS ?? "3600,86400").split(",").map(Number)) {
  const bytes = metadataBytes(n)
  const mb = bytes.length / 1e6
  const runs = Number(process.env.K2_PARSE_RUNS ?? (n > 10_000 ? 5 : 21))
  console.log(`${n} snapshots, ${PARTITIONS} partitions: ${mb.toFixed(1)} MB, ${(bytes.length / n).toFixed(0)} bytes a snapshot (median of ${runs})`)
  if (only !== "bytes") {
    const text = new TextDecoder().decode(bytes)
    measure("JSON.parse (inexact)", mb, runs, () => JSON.parse(text))
    measure("reviver (before)", mb, runs, () => parseJsonRevived(text))
    measure("parseJson", mb, runs, () => parseJson(text))
    measure("parseJsonBytes", mb, runs, () => parseJsonBytes(bytes))
    measure("parseJsonBytes, one piece", mb, runs, () => parseJsonBytes(bytes, { chunk: 2 ** 29, maxString: 2 ** 29 }))
    measure("decodeTableMetadata (text)", mb, runs, () => Result.getOrThrow(decodeTableMetadata(text, "m.json", "t")))
    // What the SQL catalog did before ADR-77: the bytes made one string, then decoded.
    measure("TextDecoder, then (text)", mb, runs, () => Result.getOrThrow(decodeTableMetadata(new TextDecoder().decode(bytes), "m.json", "t")))
  }
  measure("decodeTableMetadata (bytes)", mb, runs, () => Result.getOrThrow(decodeTableMetadata(bytes, "m.json", "t")))
}
