/**
 * What ingest's start spends reading markers (docs/benchmarks.md, "Long histories"): the start check
 * of other groups' markers (claimTopics, ADR-61) and the assignment's read of the group's own marker
 * (tableStarts), on tables of `K2_CLAIM_SNAPSHOTS` snapshots (default 30,000), each summary carrying
 * the markers of `K2_CLAIM_GROUPS` groups (default 3) of two topics, 12 partitions each. The tables
 * are served from memory (as the catalog caches them): only the reading of markers is measured, as
 * process CPU time, the median of `K2_CLAIM_RUNS` runs (default 15).
 *
 * npm exec -- node --disable-warning=ExperimentalWarning bench/claimTopics.ts
 */
import { Effect, References, Result } from "effect"
import type { Snapshot, TableMetadata } from "../src/domain/iceberg/spec.ts"
import { fence, markerKey, markerOf, topicIdsKey } from "../src/domain/ingest/marker.ts"
import { identifierOf, type TableName } from "../src/domain/tables.ts"
import { adoptMarks, claimTopics } from "../src/layers/ingest/otherGroups.ts"
import { Catalog } from "../src/services/Catalog.ts"
import { IcebergSink } from "../src/services/IcebergSink.ts"

const SNAPSHOTS = Number(process.env.K2_CLAIM_SNAPSHOTS ?? 30_000)
const GROUPS = Number(process.env.K2_CLAIM_GROUPS ?? 3)
const RUNS = Number(process.env.K2_CLAIM_RUNS ?? 15)
const TOPICS = ["market.equities.trades.asx", "market.equities.quotes.asx"]
const groups = Array.from({ length: GROUPS }, (_, g) => g === 0 ? "k2-ingest" : `old-${g}`)

/** A marker as ingest writes one: 12 partitions of each topic. */
const marker = (i: number) =>
  JSON.stringify(Object.fromEntries(TOPICS.map((t) => [t, Object.fromEntries(Array.from({ length: 12 }, (_, p) => [String(p), 1_000_000 + i * 12 + p]))])))

const table = (name: TableName): TableMetadata => {
  const snapshots: Array<Snapshot> = []
  for (let i = 0; i < SNAPSHOTS; i++) {
    const summary: Record<string, string> = { operation: "append", "added-records": "10", "k2.commit-id": crypto.randomUUID() }
    // Every K2 commit carries all groups' markers forward; the first group is the one ingesting.
    for (const g of groups) {
      summary[markerKey(g)] = marker(g === "k2-ingest" ? i : 1)
      summary[topicIdsKey(g)] = JSON.stringify(Object.fromEntries(TOPICS.map((t) => [t, "q1w2e3r4t5y6u7i8o9p0aa"])))
    }
    snapshots.push({
      "sequence-number": BigInt(i + 1),
      "snapshot-id": BigInt(i + 1),
      ...(i === 0 ? {} : { "parent-snapshot-id": BigInt(i) }),
      "timestamp-ms": i,
      "manifest-list": `file:///wh/market_data/${name}/metadata/snap-${i}.avro`,
      "schema-id": 0,
      summary
    } as Snapshot)
  }
  return {
    "format-version": 2, "table-uuid": crypto.randomUUID(), location: `file:///wh/market_data/${name}`, properties: {},
    "current-snapshot-id": BigInt(SNAPSHOTS), snapshots, refs: { main: { "snapshot-id": BigInt(SNAPSHOTS), type: "branch" } }
  } as unknown as TableMetadata
}

const tables = new Map((["trades", "quotes", "sequence_events"] as const).map((t) => [identifierOf(t).name, table(t)]))
const metadataOf = (name: string) => tables.get(name)!
const catalog = {
  tableExists: (id: { name: string }) => Effect.succeed(tables.has(id.name)),
  loadTable: (id: { name: string; namespace: string }) => Effect.succeed({ identifier: id, metadataLocation: "x", metadata: metadataOf(id.name) })
} as unknown as Catalog["Service"]
/** Runs `prepare` on the table as it stands, as one commit attempt would; commits nothing. */
const sink = {
  append: (id: { name: string }, _batch: unknown, options: { prepare?: (m: TableMetadata) => Result.Result<unknown, string> }) =>
    Effect.sync(() => options.prepare?.(metadataOf(id.name)))
} as unknown as IcebergSink["Service"]

const cpuMs = (effect: Effect.Effect<unknown, unknown, Catalog | IcebergSink>) => {
  const times: Array<number> = []
  for (let i = 0; i < RUNS; i++) {
    const start = process.cpuUsage()
    Effect.runSync(effect.pipe(Effect.ignore, Effect.provideService(References.MinimumLogLevel, "None"), Effect.provideService(Catalog, catalog), Effect.provideService(IcebergSink, sink)))
    const used = process.cpuUsage(start)
    times.push((used.user + used.system) / 1000)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(RUNS / 2)]!.toFixed(1)
}

const assignment = Effect.gen(function*() {
  // tableStarts: the group's marker in each data table of the assignment, then sequence_events'.
  for (const name of ["trades", "quotes", "sequence_events"]) yield* markerOf(metadataOf(name), "k2-ingest", name)
})

// A flush's commit fences each table it writes against the group's marker (ADR-6).
const commitFence = Effect.sync(() => fence(metadataOf("trades"), "k2-ingest", [{ topic: TOPICS[0]!, partition: 0, from: 1_000_000n + BigInt(SNAPSHOTS - 1) * 12n, to: 2_000_000_000n }], "trades"))

console.log(`${SNAPSHOTS} snapshots in each of trades, quotes, sequence_events; ${GROUPS} groups' markers; ${TOPICS.length} topics x 12 partitions`)
console.log(`claimTopics, the group's own restart:            ${cpuMs(claimTopics({ group: "k2-ingest", separateCopy: false }, TOPICS))} ms CPU`)
console.log(`claimTopics, --adopt-marks-of left on a restart:  ${cpuMs(claimTopics({ group: "k2-ingest", adoptMarksOf: "old-1", separateCopy: false }, TOPICS))} ms CPU`)
console.log(`claimTopics, a new group refused:                 ${cpuMs(claimTopics({ group: "new", separateCopy: false }, TOPICS))} ms CPU`)
console.log(`claimTopics, a new group adopting (1 attempt):    ${cpuMs(claimTopics({ group: "new", adoptMarksOf: "k2-ingest", separateCopy: false }, TOPICS))} ms CPU`)
console.log(`adoptMarks alone (1 attempt):                     ${cpuMs(adoptMarks("new", "k2-ingest", TOPICS))} ms CPU`)
console.log(`an assignment's markers (3 tables):               ${cpuMs(assignment)} ms CPU`)
console.log(`a commit's fence (1 table):                       ${cpuMs(commitFence)} ms CPU`)
