/**
 * What one ingest commit adds to metadata.json, by what the snapshot carries (docs/benchmarks.md,
 * "Bytes a snapshot adds"): for `K2_SNAPSHOT_PARTITIONS` partitions of one topic (default 12 and
 * 120), `K2_SNAPSHOT_COMMITS` appends (default 40) of 10 trades each to trades and to
 * sequence_events through the real sink and SQLite catalog, each carrying what ingest's commits
 * carry: the group's marker (9-digit offsets, a week of a busy partition), the topic ids, and on
 * sequence_events each partition's checkpoint side file. Prints the file's growth a commit and how
 * much of the newest snapshot each part of its summary takes.
 *
 * npm exec -- node --disable-warning=ExperimentalWarning bench/snapshotBytes.ts
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Effect } from "effect"
import { stringifyJson } from "../src/domain/iceberg/json.ts"
import { CHECKPOINT_PREFIX, encodeOffsets, encodeTopicIds, markerKey, topicIdsKey } from "../src/domain/ingest/marker.ts"
import type { SequenceEvent } from "../src/domain/reference.ts"
import { tradeColumns } from "../src/domain/rows.ts"
import { sequenceEventColumns } from "../src/domain/sequence/events.ts"
import { identifierOf, tables } from "../src/domain/tables.ts"
import * as Lakehouse from "../src/layers/lakehouse.ts"
import { Catalog } from "../src/services/Catalog.ts"
import { FileIO } from "../src/services/FileIO.ts"
import { IcebergSink } from "../src/services/IcebergSink.ts"
import { makeTrades, START_MICROS } from "../test/support/fixtures.ts"

const COMMITS = Number(process.env.K2_SNAPSHOT_COMMITS ?? 40)
const TOPIC = "market.equities.trades.asx"
const GROUP = "k2-ingest"

const measure = (partitions: number, dir: string) =>
  Effect.gen(function*() {
    const sink = yield* IcebergSink
    const catalog = yield* Catalog
    const files = yield* FileIO
    const sizes = new Map<string, Array<number>>()
    for (const name of ["trades", "sequence_events"] as const) {
      const id = identifierOf(name)
      const { metadata } = yield* sink.ensureTable(name === "trades" ? tables.trades : tables.sequenceEvents)
      for (let c = 0; c < COMMITS; c++) {
        const offsets = new Map([[TOPIC, new Map(Array.from({ length: partitions }, (_, p) => [p, 600_000_000n + BigInt(c * 1_000 + p)]))]])
        const properties: Record<string, string> = {
          [markerKey(GROUP)]: encodeOffsets(offsets),
          [topicIdsKey(GROUP)]: encodeTopicIds(new Map([[TOPIC, "q1w2e3r4t5y6u7i8o9p0aa"]]))
        }
        if (name === "sequence_events") {
          // Every partition's checkpoint is carried forward: those a commit does not move come from its parent.
          for (let p = 0; p < partitions; p++) {
            properties[`${CHECKPOINT_PREFIX}${GROUP}.${TOPIC}:${p}`] = `${metadata.location}/metadata/k2-sequence-${crypto.randomUUID()}.json`
          }
        }
        const batch = name === "trades"
          ? tradeColumns(makeTrades({ count: 10, startMicros: START_MICROS + c * 1_000_000, days: 0.001, offsetBase: c * 10 }))
          : sequenceEventColumns([{
            detected_at: START_MICROS + c, symbol: "BHP", exchange: "ASX", kind: "GAP", expected: 1n, received: 3n, gap_size: 2n,
            exchange_timestamp: START_MICROS + c, message_id: `m${c}`, kafka_topic: TOPIC, kafka_partition: 0, kafka_offset: BigInt(c)
          } as SequenceEvent])
        yield* sink.append(id, batch, { properties })
        const { metadataLocation } = yield* catalog.loadTable(id)
        sizes.set(name, [...(sizes.get(name) ?? []), (yield* files.read(metadataLocation)).length])
      }
      const { metadata: m } = yield* catalog.loadTable(id)
      const s = sizes.get(name)!
      const perCommit = (s.at(-1)! - s[9]!) / (COMMITS - 10)
      const last = m.snapshots.at(-1)!
      const part = (f: (k: string) => boolean) =>
        Object.entries(last.summary).filter(([k]) => f(k)).reduce((n, [k, v]) => n + JSON.stringify(k).length + JSON.stringify(v).length + 2, 0)
      const snapshotBytes = stringifyJson(last).length
      const logEntry = stringifyJson({ "snapshot-id": last["snapshot-id"], "timestamp-ms": last["timestamp-ms"] }).length + 1
      console.log(
        `${partitions} partitions, ${name}: ${perCommit.toFixed(0)} bytes a commit (snapshot ${snapshotBytes} + snapshot-log ${logEntry}); ` +
          `in the snapshot: marker ${part((k) => k === markerKey(GROUP))}, topic ids ${part((k) => k === topicIdsKey(GROUP))}, ` +
          `checkpoints ${part((k) => k.startsWith(CHECKPOINT_PREFIX))}, the rest of the summary ${
            part((k) => k !== markerKey(GROUP) && k !== topicIdsKey(GROUP) && !k.startsWith(CHECKPOINT_PREFIX))
          }`
      )
    }
    void dir
  })

for (const partitions of (process.env.K2_SNAPSHOT_PARTITIONS ?? "12,120").split(",").map(Number)) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-snapshot-bytes-"))
  await Effect.runPromise(
    measure(partitions, dir).pipe(
      Effect.provide(Lakehouse.layer({ warehouse: dir, catalog: { _tag: "sqlite", path: path.join(dir, "catalog.db") } })),
      Effect.scoped
    ) as Effect.Effect<void>
  )
  fs.rmSync(dir, { recursive: true, force: true })
}
