import { assert, describe, it } from "@effect/vitest"
import { metadataCache, newTableMetadata } from "../../../src/domain/iceberg/metadata.ts"
import type { TableMetadata } from "../../../src/domain/iceberg/spec.ts"
import { definitionOf } from "../../../src/domain/tables.ts"

const created = (uuid = "u") => {
  const d = definitionOf("trades")
  return newTableMetadata({ uuid, location: "file:///t", schema: d.schema, spec: d.spec, sortOrder: null, nowMs: 0 })
}

/** The metadata a commit on `base` (at `location`) writes: `base` logged, its sequence number `sequence`. */
const next = (base: TableMetadata, location: string, sequence: bigint): TableMetadata => ({
  ...base,
  "last-sequence-number": sequence,
  "metadata-log": [...base["metadata-log"], { "metadata-file": location, "timestamp-ms": 0 }]
})

describe("metadataCache", () => {
  it("keeps a table's newest file, dropping the one it supersedes", () => {
    const cache = metadataCache()
    const v0 = created()
    const v1 = next(v0, "file:///t/metadata/00000-a.metadata.json", 1n)
    cache.set("trades", "file:///t/metadata/00000-a.metadata.json", v0)
    cache.set("trades", "file:///t/metadata/00001-b.metadata.json", v1)
    assert.strictEqual(cache.get("file:///t/metadata/00001-b.metadata.json"), v1)
    assert.isUndefined(cache.get("file:///t/metadata/00000-a.metadata.json"))
  })

  it("never goes back: a reader holding an older pointer (in the newer's metadata log, or at a lower sequence number) does not replace the newer file", () => {
    const cache = metadataCache()
    const v0 = created()
    const v1 = next(v0, "file:///t/metadata/00000-a.metadata.json", 0n)
    const v2 = next(v1, "file:///t/metadata/00001-b.metadata.json", 1n)
    // Its log kept none of the earlier files (write.metadata.previous-versions-max): the sequence number tells.
    const v3 = { ...next(v2, "file:///t/metadata/00002-c.metadata.json", 2n), "metadata-log": [] }
    cache.set("trades", "file:///t/metadata/00002-c.metadata.json", v2)
    // Same sequence number as the newer one: its metadata log names it.
    cache.set("trades", "file:///t/metadata/00001-b.metadata.json", v1)
    assert.strictEqual(cache.get("file:///t/metadata/00002-c.metadata.json"), v2)
    assert.isUndefined(cache.get("file:///t/metadata/00001-b.metadata.json"))
    cache.set("trades", "file:///t/metadata/00003-d.metadata.json", v3)
    cache.set("trades", "file:///t/metadata/00001-b.metadata.json", v1)
    cache.set("trades", "file:///t/metadata/00000-a.metadata.json", v0)
    assert.strictEqual(cache.get("file:///t/metadata/00003-d.metadata.json"), v3)
  })

  it("a table dropped and created again under its name (another table-uuid, its sequence numbers anew) replaces the old one", () => {
    const cache = metadataCache()
    const old = next(created("old"), "file:///t/metadata/00000-a.metadata.json", 5n)
    const recreated = created("new")
    cache.set("trades", "file:///t/metadata/00001-b.metadata.json", old)
    cache.set("trades", "file:///t/metadata/00000-c.metadata.json", recreated)
    assert.strictEqual(cache.get("file:///t/metadata/00000-c.metadata.json"), recreated)
  })
})
