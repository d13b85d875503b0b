/** The ingestor's progress as read from its partitions. */
import { assert, describe, it } from "@effect/vitest"
import { makeCounters, progressOf } from "../../../src/layers/ingest/ingestProgress.ts"
import type { PartitionState, Partitions } from "../../../src/layers/ingest/partitionState.ts"
import type { TpKey } from "../../../src/services/KafkaSource.ts"

/** The fields progress reads of a partition's state. */
const part = (key: string, fields: Pick<PartitionState, "next" | "tableMark" | "sequenceMark" | "lag" | "retired">) =>
  [key as TpKey, { key, ...fields } as unknown as PartitionState] as const

describe("progressOf", () => {
  // A flush that failed (a catalog connection terminated) retires its partitions: their buffered
  // rows are dropped and they read again from the tables' marks once restarted. The embedded
  // default ends its day when the position reaches the log's end: counted at `next`, a partition
  // read to its end and retired ended the day before its restart read those rows again.
  it("a partition retired for a restart is positioned where the restart reads from, not where it had read to", () => {
    const parts: Partitions = new Map([
      part("t-0", { next: 100n, tableMark: 100n, sequenceMark: 100n, lag: 0n, retired: false }),
      part("t-1", { next: 100n, tableMark: 40n, sequenceMark: 30n, lag: 0n, retired: true })
    ])
    const progress = progressOf(makeCounters(), parts)
    assert.strictEqual(progress.position, 130)
    assert.strictEqual(progress.uncommitted, 70)
  })
})
