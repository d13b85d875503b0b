import { assert, describe, it } from "@effect/vitest"
import { applyUpdates, defaultSpec, newTableMetadata, specById } from "../../../src/domain/iceberg/metadata.ts"
import { definitionOf } from "../../../src/domain/tables.ts"

const base = () => {
  const d = definitionOf("trades")
  return newTableMetadata({ uuid: "u", location: "file:///t", schema: d.schema, spec: d.spec, sortOrder: null, nowMs: 0 })
}

describe("applyUpdates: partition specs (another engine's evolution)", () => {
  it("adds a spec and makes it the default; the old one stays for the files it partitions", () => {
    const m = base()
    const spec = { "spec-id": 1, fields: [{ "source-id": 1, "field-id": 1005, name: "by_id", transform: "bucket[4]" }] }
    const next = applyUpdates(m, null, [{ action: "add-spec", spec }, { action: "set-default-spec", "spec-id": 1 }], 1)
    assert.deepStrictEqual(defaultSpec(next), spec)
    assert.deepStrictEqual(specById(next, 0), defaultSpec(m))
    assert.strictEqual(next["last-partition-id"], Math.max(m["last-partition-id"], 1005))
  })

  it("refuses a spec id that exists and a default that does not", () => {
    const m = base()
    assert.throws(() => applyUpdates(m, null, [{ action: "add-spec", spec: { ...defaultSpec(m) } }], 1), /exists already/)
    assert.throws(() => applyUpdates(m, null, [{ action: "set-default-spec", "spec-id": 7 }], 1), /unknown partition spec 7/)
  })
})
