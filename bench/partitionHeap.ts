/**
 * The heap `ingest` holds a partition it owns (docs/operations.md, "heap"): an ingestor over the
 * memory broker and a memory catalog owns every partition of one empty topic;
 * `process.memoryUsage().heapUsed` after two full GCs. Each count runs in a process of its own
 * (node --expose-gc), 3,000 and 6,000 alternating; printed: each pair's slope, bytes a partition.
 *
 * Run: `npm run bench -- partitions` (two pairs, ~20 s), or
 * `npm exec -- node --disable-warning=ExperimentalWarning bench/partitionHeap.ts [PAIRS=2]`.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Fiber } from "effect"
import { sourceTopicSpecs } from "../src/domain/wire.ts"
import * as KafkaMemory from "../src/layers/kafka/memory.ts"
import { Ingestor } from "../src/services/Ingestor.ts"
import { KafkaAdmin } from "../src/services/KafkaSink.ts"
import { ASX_TOPICS, ingestorOver } from "../test/support/memoryFeed.ts"
import { waitForProgress } from "../test/support/ingestorProgress.ts"

const SMALL = 3_000
const LARGE = 6_000

/** Heap used (bytes) once an ingestor owns `partitions` partitions with nothing to read. */
const heapOwning = (partitions: number) =>
  Effect.gen(function*() {
    const kafka = KafkaMemory.layerMemory(new KafkaMemory.MemoryBroker())
    const topic = ASX_TOPICS[0]!
    yield* Effect.gen(function*() {
      yield* (yield* KafkaAdmin).ensureTopics(sourceTopicSpecs([topic], partitions)!)
    }).pipe(Effect.provide(kafka))
    const warehouse = fs.mkdtempSync(path.join(os.tmpdir(), "k2-partition-heap-"))
    const gc = (globalThis as { gc?: () => void }).gc!
    return yield* Effect.gen(function*() {
      const fiber = yield* Effect.forkChild((yield* Ingestor).run)
      const owned = (yield* waitForProgress((p) => p.partitions === partitions, "120 seconds")).partitions
      if (owned !== partitions) return yield* Effect.die(new Error(`owned ${owned} of ${partitions} partitions after 120 s`))
      // Every actor started and waiting on its empty mailbox.
      yield* Effect.sleep("2 seconds")
      gc()
      gc()
      const heap = process.memoryUsage().heapUsed
      yield* Fiber.interrupt(fiber)
      return heap
    }).pipe(
      Effect.provide(ingestorOver({ kafka, lakehouse: { warehouse, catalog: { _tag: "memory" } }, settings: { topics: [topic] } })),
      Effect.ensuring(Effect.sync(() => fs.rmSync(warehouse, { recursive: true, force: true })))
    )
  })

/** Heap a partition (bytes) as the slope from SMALL to LARGE partitions, each in a fresh process. */
const slope = () => {
  const measure = (partitions: number) =>
    Number(execFileSync(process.execPath, [
      "--expose-gc", "--disable-warning=ExperimentalWarning", fileURLToPath(import.meta.url), "--child", String(partitions)
    ], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").at(-1))
  const small = measure(SMALL)
  const large = measure(LARGE)
  return { small, large, perPartition: Math.round((large - small) / (LARGE - SMALL)) }
}

export const benchPartitionHeap = (pairs = 2): Record<string, number | string> => {
  const slopes = Array.from({ length: pairs }, () => slope().perPartition)
  return { "ingest heap an owned partition, 3,000 -> 6,000 partitions, nothing to read (bytes, each pair)": slopes.join(", ") }
}

if (import.meta.main) {
  const [first, second] = process.argv.slice(2)
  if (first === "--child") {
    console.log(await Effect.runPromise(heapOwning(Number(second))))
    process.exit(0)
  }
  const pairs = Number(first ?? "2")
  if (!Number.isInteger(pairs) || pairs < 1) {
    console.error("usage: npm exec -- node --disable-warning=ExperimentalWarning bench/partitionHeap.ts [pairs]")
    process.exit(2)
  }
  for (let i = 0; i < pairs; i++) {
    const { large, perPartition, small } = slope()
    console.log(`${SMALL}: ${small} bytes, ${LARGE}: ${large} bytes; ${perPartition} bytes a partition`)
  }
}
