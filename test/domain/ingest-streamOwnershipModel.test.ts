/**
 * The owner record (ADR-76) against the scan it replaced: after any sequence of claims, keepOnly,
 * revokes and installs (restoring only streams no other partition holds, as tableStarts does), the
 * recorded owner is the partition holding the stream, and no two partitions hold one.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { claim, holdAll, keepOnly, letGoAll, ownerOf, StreamSet } from "../../src/domain/ingest/streamOwnership.ts"

type Part = { key: string; table: string; streams: StreamSet; left: StreamSet }
const part = (key: string, table: string): Part => ({ key, table, streams: new StreamSet(), left: new StreamSet() })

const KEYS = ["t:0", "t:1", "t:2", "q:0"]
const SYMBOLS = ["A", "B", "C", "D"]
const tableOf = (key: string) => (key.startsWith("t") ? "trades" : "quotes")

const op = fc.oneof(
  fc.record({ kind: fc.constant("claim" as const), key: fc.constantFrom(...KEYS), symbol: fc.constantFrom(...SYMBOLS) }),
  fc.record({ kind: fc.constant("keepOnly" as const), key: fc.constantFrom(...KEYS), keep: fc.subarray(SYMBOLS) }),
  fc.record({ kind: fc.constant("revoke" as const), key: fc.constantFrom(...KEYS) }),
  fc.record({ kind: fc.constant("install" as const), key: fc.constantFrom(...KEYS), restored: fc.subarray(SYMBOLS) })
)

/** The scan before ADR-76. */
const scan = (parts: Map<string, Part>, table: string, symbol: string, besides: (key: string) => boolean) =>
  [...parts.values()].filter((p) => p.table === table && !besides(p.key) && p.streams.has("ASX", symbol))

describe("stream ownership, model", () => {
  it("the recorded owner is the one partition holding the stream", () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const parts = new Map<string, Part>()
      for (const o of ops) {
        const current = parts.get(o.key)
        if (o.kind === "claim") {
          if (current !== undefined && !current.streams.has("ASX", o.symbol)) claim(parts, current, "ASX", o.symbol)
        } else if (o.kind === "keepOnly") {
          if (current !== undefined) keepOnly(parts, current, (_, s) => o.keep.includes(s))
        } else if (o.kind === "revoke") {
          if (current !== undefined) (letGoAll(parts, current), parts.delete(o.key))
        } else {
          const fresh = part(o.key, tableOf(o.key))
          for (const s of o.restored) {
            if (ownerOf(parts, fresh.table, "ASX", s, (k) => k === o.key) === undefined) fresh.streams.add("ASX", s)
          }
          if (current !== undefined) letGoAll(parts, current)
          parts.set(o.key, fresh)
          holdAll(parts, fresh)
        }
        for (const table of ["trades", "quotes"]) {
          for (const s of SYMBOLS) {
            const holders = scan(parts, table, s, () => false)
            assert.isAtMost(holders.length, 1, `${table} ${s}`)
            assert.strictEqual(ownerOf(parts, table, "ASX", s, () => false), holders[0])
            for (const key of KEYS) assert.strictEqual(ownerOf(parts, table, "ASX", s, (k) => k === key), scan(parts, table, s, (k) => k === key)[0])
          }
        }
      }
    }), { numRuns: 500 })
  })
})
