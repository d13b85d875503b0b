/**
 * The manifest entries maintenance keeps decoded must fit the heap its programs run with:
 * `compact` and `ingest --maintain-every` (256 MB of V8 old space, ADR-11). At 25,000 entries
 * `npm run compact` of a year backfilled symbol by symbol (2,920 files in 8 manifests of 365 days,
 * each day's compaction rewriting all 8) ran out of heap after 40 s.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { MAINTENANCE_CACHE_ENTRIES } from "../../../src/layers/iceberg/snapshotFiles.ts"

/** Heap of one decoded trades manifest entry, `bench/manifestEntryHeap.ts` on a 365-day manifest K2 wrote. */
const ENTRY_HEAP_BYTES = 10_818

const oldSpaceMb = (script: string): number => {
  const flag = /--max-old-space-size=(\d+)/.exec(script)
  assert.isNotNull(flag, `no heap cap in ${script}`)
  return Number(flag![1])
}

describe("maintenance's manifest cache", () => {
  it("holds at most a quarter of the heap compact and ingest run with", () => {
    const scripts = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "../../../package.json"), "utf8")).scripts
    for (const program of ["compact", "ingest"]) {
      const heap = oldSpaceMb(scripts[program]) * 1024 * 1024
      assert.isAtMost(MAINTENANCE_CACHE_ENTRIES * ENTRY_HEAP_BYTES, heap / 4, program)
    }
  })
})
