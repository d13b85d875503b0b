/**
 * What the seeded fault tests of ingestion share (test/layers/ingest/chaos*.test.ts): the seeded
 * generator, which commits are ingestion's, and the end state every schedule must reach: each
 * valid record once in the tables, every poison record in its DLQ, the group's offsets at the
 * logs' ends and not ahead of the tables' markers.
 */
import { assert } from "@effect/vitest"
import { type Context, Effect, type Fiber, Layer } from "effect"
import { StorageFailure, TableFileError } from "../../src/domain/iceberg/errors.ts"
import { currentSnapshot, type TableUpdate } from "../../src/domain/iceberg/metadata.ts"
import { decodeOffsets, MARKER_PREFIX, markerKey, offsetOf } from "../../src/domain/ingest/marker.ts"
import { dlqTopicName, Header } from "../../src/domain/wire.ts"
import type { MemoryBroker } from "../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { Catalog, catalogError, CommitStateUnknown, type TableIdentifier } from "../../src/services/Catalog.ts"
import { FileIO } from "../../src/services/FileIO.ts"
import { Ingestor } from "../../src/services/Ingestor.ts"
import { ASX_TOPICS } from "./memoryFeed.ts"
import { checkTable } from "./tableCheck.ts"
import type { warehouseOptions } from "./warehouse.ts"

/** mulberry32: a small seeded generator, so a seed replays its fault sequence. */
export const seeded = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A commit of ingestion's (it carries a marker), not one of maintenance or set-up. */
export const isIngestionCommit = (updates: ReadonlyArray<TableUpdate>) =>
  updates.some((u) => u.action === "add-snapshot" && Object.keys(u.snapshot.summary).some((k) => k.startsWith(MARKER_PREFIX)))

/** Whether some partition's group offset is short of its log's end. */
export const offsetsBehind = (broker: MemoryBroker, group: string) => () => {
  const g = broker.groups.get(group)
  return ASX_TOPICS.some((topic) => {
    const t = broker.topics.get(topic)!
    return t.partitions.some((records, p) => g?.committed.get(`${topic}:${p}` as never) !== BigInt(t.base[p]! + records.length))
  })
}

/** The sum of the log ends of every partition of ASX_TOPICS: the positions of ingestors that read everything. */
const logEnds = (broker: MemoryBroker) =>
  ASX_TOPICS.reduce((n, topic) => {
    const t = broker.topics.get(topic)!
    return n + t.partitions.reduce((m, records, p) => m + t.base[p]! + records.length, 0)
  }, 0)

/** Each partition's group offset against its log's end (`topic:partition offset/end`), for a failure's message. */
export const groupOffsetsAgainstEnds = (broker: MemoryBroker, group: string) => {
  const g = broker.groups.get(group)
  return ASX_TOPICS.flatMap((topic) => {
    const t = broker.topics.get(topic)!
    return t.partitions.map((records, p) => `${topic}:${p} ${g?.committed.get(`${topic}:${p}` as never)}/${t.base[p]! + records.length}`)
  }).join(", ")
}

type Progress = Effect.Success<Ingestor["Service"]["progress"]>


/**
 * A commit whose answer never came (CommitStateUnknown): `landed`, it was carried out and its answer
 * lost; else the request itself was lost. The sink looks for its commit id before it retries.
 */
export const commitAnswerLost = (
  catalog: Catalog["Service"],
  id: TableIdentifier,
  requirements: Parameters<Catalog["Service"]["commitTable"]>[1],
  updates: ReadonlyArray<TableUpdate>,
  landed: boolean
) => {
  const unknown = (detail: string) => catalogError(new CommitStateUnknown({ table: id.name, detail }))
  return landed
    ? catalog.commitTable(id, requirements, updates).pipe(Effect.andThen(unknown("injected: the answer was lost")))
    : unknown("injected: the request was lost")
}

/** The warehouse's files over `storage`, each write failing while `state.writesFail` counts down (an injected storage fault). */
export const failingWrites = <E, R>(storage: Layer.Layer<FileIO, E, R>, state: { writesFail: number }) =>
  Layer.effect(FileIO)(Effect.gen(function*() {
    const io = yield* FileIO
    return FileIO.of({
      ...io,
      write: (location, bytes) =>
        Effect.suspend(() =>
          state.writesFail > 0
            ? (state.writesFail--, Effect.fail(new TableFileError({ reason: new StorageFailure({ path: location, detail: "injected" }) })))
            : io.write(location, bytes)
        )
    })
  })).pipe(Layer.provide(storage))

/**
 * Ingestors of one group over `env` (the Kafka and lakehouse a test built once): `start` forks one
 * with `ingestor()` built afresh (a process of its own), `progressOf` reads a started one's progress.
 */
export const ingestorsOver = <E, R>(ingestor: () => Layer.Layer<Ingestor, E, R>, env: Context.Context<R>) => {
  const progress = new Map<number, Ingestor["Service"]["progress"]>()
  const start = () =>
    Effect.forkDetach(Effect.gen(function*() {
      const running = yield* Ingestor
      progress.set(yield* Effect.fiberId, running.progress)
      yield* running.run
    }).pipe(Effect.provide(ingestor()), Effect.provide(env)))
  const progressOf = (fiber: Fiber.Fiber<void, unknown>) => progress.get(fiber.id) ?? Effect.succeed(undefined)
  return { start, progressOf }
}

/** Whether the ingestors together hold every partition of ASX_TOPICS (`partitions` each), each read to its log's end and committed. */
export const caughtUp = (ps: ReadonlyArray<Progress | undefined>, broker: MemoryBroker, partitions: number) =>
  ps.every((p) => p !== undefined && p.uncommitted === 0) &&
  ps.reduce((n, p) => n + p!.partitions, 0) === 2 * partitions &&
  ps.reduce((n, p) => n + p!.position, 0) === logEnds(broker)

/**
 * The tables hold every valid record once, every poison record (`topic:partition:offset`) is in
 * its DLQ (at least once), and the group's offsets are not ahead of the tables' markers.
 */
export const assertExactlyOnce = (check: {
  readonly context: string
  readonly valid: number
  readonly poison: ReadonlyArray<string>
  readonly broker: MemoryBroker
  readonly group: string
  readonly partitions: number
  readonly options: ReturnType<typeof warehouseOptions>
}) =>
  Effect.gen(function*() {
    const { broker, context, group } = check
    const [trades, quotes] = yield* Effect.all([checkTable("trades"), checkTable("quotes")])
    assert.strictEqual(trades.rows + quotes.rows, check.valid, `${context}: rows == valid records produced`)
    for (const t of [trades, quotes]) {
      assert.strictEqual(t.distinctCoordinates, t.rows, `${context}: no duplicate (topic, partition, offset)`)
      assert.strictEqual(t.distinctMessageIds, t.rows, `${context}: no duplicate message_id`)
    }
    const lettered = new Set<string>()
    for (const topic of ASX_TOPICS) {
      for (const records of broker.topics.get(dlqTopicName(topic))?.partitions ?? []) {
        for (const r of records) {
          lettered.add(`${r.headers[Header.dlqSourceTopic]}:${r.headers[Header.dlqSourcePartition]}:${r.headers[Header.dlqSourceOffset]}`)
        }
      }
    }
    for (const p of check.poison) assert.isTrue(lettered.has(p), `${context}: poison ${p} is in the DLQ`)
    const catalog = yield* Catalog
    const g = broker.groups.get(group)!
    for (const [topic, table] of [[ASX_TOPICS[0]!, "trades"], [ASX_TOPICS[1]!, "quotes"]] as const) {
      const m = (yield* catalog.loadTable({ namespace: "market_data", name: table })).metadata
      const marker = decodeOffsets(currentSnapshot(m)?.summary[markerKey(group)] ?? "")
      for (let p = 0; p < check.partitions; p++) {
        const committed = g.committed.get(`${topic}:${p}` as never)
        const marked = marker === undefined ? undefined : offsetOf(marker, topic, p)
        assert.isTrue(committed === undefined || (marked !== undefined && committed <= marked), `${context}: ${topic}:${p} committed ${committed} <= marker ${marked}`)
      }
    }
  }).pipe(Effect.provide(Lakehouse.layer(check.options)))
