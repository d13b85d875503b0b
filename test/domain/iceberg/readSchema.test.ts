/** How a snapshot's files are read: by name (K2's fast path) or by field id, under which names. */
import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { nameReadColumns, readSchemaOf, writtenSchemaIds } from "../../../src/domain/iceberg/readSchema.ts"
import { countedReads } from "../../support/countedReads.ts"
import type { NestedField, Schema, Snapshot, TableMetadata } from "../../../src/domain/iceberg/spec.ts"

const schemaOf = (id: number, fields: ReadonlyArray<NestedField>): Schema => ({ type: "struct", "schema-id": id, fields })

const k2 = schemaOf(0, [
  { id: 1, name: "symbol", required: true, type: "string" },
  { id: 2, name: "price", required: true, type: "decimal(18, 8)" },
  { id: 3, name: "quantity", required: true, type: "decimal(18, 8)" },
  { id: 4, name: "kafka_partition", required: true, type: "int" },
  { id: 5, name: "conditions", required: false, type: { type: "list", "element-id": 6, element: "string", "element-required": false } }
])
const change = (id: number, f: (field: NestedField) => NestedField | null, extra: ReadonlyArray<NestedField> = []) =>
  schemaOf(id, [...k2.fields.flatMap((field) => f(field) ?? []), ...extra])

const read = (schemas: ReadonlyArray<Schema>, at: Schema, writtenUnder?: ReadonlyArray<number>) =>
  Result.getOrThrow(readSchemaOf(schemas, at, writtenUnder))
const names = (s: Schema) => s.fields.map((f) => `${f.id}:${f.name}`)
const refusal = (schemas: ReadonlyArray<Schema>, at: Schema) => {
  const r = readSchemaOf(schemas, at)
  assert.isTrue(Result.isFailure(r), "refused")
  return Result.isFailure(r) ? r.failure : ""
}

describe("readSchemaOf", () => {
  it("K2's own table, one schema: read by name, the schema as it is (the fast path)", () => {
    const r = read([k2], k2)
    assert.isFalse(r.byFieldId)
    assert.strictEqual(r.schema, k2)
  })

  it("only added columns, or reordered, or made optional: still by name", () => {
    const added = change(1, (f) => f, [{ id: 7, name: "venue_note", required: false, type: "string" }])
    assert.isFalse(read([k2, added], added).byFieldId)
    const reordered = schemaOf(2, [...added.fields].reverse().map((f) => ({ ...f, required: false })))
    assert.isFalse(read([k2, added, reordered], reordered).byFieldId)
  })

  it("a renamed K2 column is read by field id and keeps K2's name", () => {
    const renamed = change(1, (f) => (f.name === "price" ? { ...f, name: "trade_price" } : f))
    const r = read([k2, renamed], renamed)
    assert.isTrue(r.byFieldId)
    assert.deepStrictEqual(names(r.schema), ["1:symbol", "2:price", "3:quantity", "4:kafka_partition", "5:conditions"])
  })

  it("older schemas another engine removed (Java's cleanExpiredMetadata): files written under them may hold other names, so by field id", () => {
    // Java renamed price, expired every snapshot of schema 0 and removed schema 0: K2's files still hold price.
    const renamed = change(1, (f) => (f.name === "price" ? { ...f, name: "trade_price" } : f))
    assert.isTrue(read([renamed], renamed).byFieldId)
    const added = change(2, (f) => f, [{ id: 7, name: "venue_note", required: false, type: "string" }])
    assert.isTrue(read([k2, added], added).byFieldId, "schema 1 removed between")
  })

  it("time travel: a snapshot written before the rename reads by name under its own schema", () => {
    const renamed = change(1, (f) => (f.name === "price" ? { ...f, name: "trade_price" } : f))
    assert.isFalse(read([k2, renamed], k2).byFieldId)
  })

  it("a column another engine added and then renamed shows under its current name (Java's)", () => {
    const added = change(1, (f) => f, [{ id: 7, name: "note", required: false, type: "string" }])
    const renamed = change(2, (f) => f, [{ id: 7, name: "venue_note", required: false, type: "string" }])
    const r = read([k2, added, renamed], renamed)
    assert.isTrue(r.byFieldId)
    assert.include(names(r.schema), "7:venue_note")
  })

  it("swapped names follow the schema read (as K2's appends write them)", () => {
    const swapped = change(1, (f) => (f.name === "price" ? { ...f, name: "quantity" } : f.name === "quantity" ? { ...f, name: "price" } : f))
    const r = read([k2, swapped], swapped)
    assert.isTrue(r.byFieldId)
    assert.deepStrictEqual(names(r.schema).slice(1, 3), ["2:quantity", "3:price"])
  })

  it("a dropped K2 column reads as null; dropped and added again under its name, the new column is read", () => {
    const dropped = change(1, (f) => (f.name === "quantity" ? null : f))
    const r = read([k2, dropped], dropped)
    assert.isTrue(r.byFieldId)
    // K2's quantity stays, null: under a negative id no file holds.
    assert.include(names(r.schema), "-3:quantity")
    assert.isFalse(r.schema.fields.find((f) => f.id === -3)?.required, "null in every row: optional")
    const again = change(2, (f) => (f.name === "quantity" ? null : f), [{ id: 8, name: "quantity", required: false, type: "decimal(18, 8)" }])
    const r2 = read([k2, dropped, again], again)
    assert.isTrue(r2.byFieldId)
    assert.include(names(r2.schema), "8:quantity")
    assert.notInclude(names(r2.schema), "-3:quantity")
  })

  it("Iceberg's promotions are read by field id at the new type: int→long, decimal precision, float→double", () => {
    const widened = change(1, (f) =>
      f.name === "kafka_partition" ? { ...f, type: "long" } : f.name === "price" ? { ...f, type: "decimal(20, 8)" } : f,
      [{ id: 9, name: "score", required: false, type: "double" }])
    const withFloat = change(1, (f) => f, [{ id: 9, name: "score", required: false, type: "float" }])
    const r = read([k2, { ...withFloat, "schema-id": 1 }, { ...widened, "schema-id": 2 }], { ...widened, "schema-id": 2 })
    assert.isTrue(r.byFieldId)
    assert.deepStrictEqual(r.schema.fields.map((f) => f.type).filter((t) => typeof t === "string").slice(1), ["decimal(20, 8)", "decimal(18, 8)", "long", "double"])
  })

  it("other type changes are refused, naming the column and both types", () => {
    const scale = change(1, (f) => (f.name === "price" ? { ...f, type: "decimal(20, 10)" } : f))
    assert.include(refusal([k2, scale], scale), "column price (id 2) changed type from decimal(18, 8) to decimal(20, 10)")
    const nested = change(1, (f) => (f.name === "conditions" ? { ...f, type: { type: "list", "element-id": 6, element: "long", "element-required": false } } : f))
    assert.include(refusal([k2, nested], nested), "column conditions (id 5) changed type")
  })

  it("a K2 column renamed to the name of another of K2's columns (dropped meanwhile) is refused", () => {
    const gone = change(1, (f) => (f.name === "quantity" ? { ...f, name: "q2" } : f))
    const taken = change(2, (f) => (f.name === "quantity" ? { ...f, name: "q2" } : f.name === "price" ? { ...f, name: "quantity" } : f))
    assert.include(refusal([k2, gone, taken], taken), "column price (id 2) was renamed to quantity")
  })
  it("a decimal narrowed (a precision taken away) is refused: no promotion reads it exactly", () => {
    const narrowed = change(1, (f) => (f.name === "price" ? { ...f, type: "decimal(10, 8)" } : f))
    assert.include(refusal([k2, narrowed], narrowed), "column price (id 2) changed type from decimal(18, 8) to decimal(10, 8)")
  })

  it("a nested field made optional or given a doc, or a list's element made required, changes no read: still by name", () => {
    const venue = (fields: ReadonlyArray<NestedField>): NestedField => ({ id: 10, name: "venue", required: false, type: { type: "struct", fields } })
    const withVenue = change(0, (f) => f, [venue([{ id: 11, name: "code", required: true, type: "string" }])])
    const loosened = change(1, (f) =>
      f.name === "conditions" ? { ...f, type: { type: "list", "element-id": 6, element: "string", "element-required": true } } : f,
      [venue([{ id: 11, name: "code", required: false, type: "string", doc: "the venue's MIC" }])])
    assert.isFalse(read([withVenue, loosened], loosened).byFieldId)
  })

  it("a column that bore two of K2's names, one after the other, is refused naming both", () => {
    // quantity dropped, price renamed quantity, then renamed again: K2's price and quantity both lead to id 2.
    const first = change(1, (f) => (f.name === "quantity" ? null : f.name === "price" ? { ...f, name: "quantity" } : f))
    const second = change(2, (f) => (f.name === "quantity" ? null : f.name === "price" ? { ...f, name: "p2" } : f))
    assert.include(refusal([k2, first, second], second), "column p2 (id 2) once bore two of K2's names, price and quantity")
  })
})

describe("writtenSchemaIds: the schemas a snapshot's files may have been written under, beyond those listed before its own", () => {
  const renamed = change(1, (f) => (f.name === "price" ? { ...f, name: "trade_price" } : f))
  const snapshot = (id: bigint, sequence: bigint, schemaId: number): Snapshot => ({
    "snapshot-id": id,
    "sequence-number": sequence,
    "timestamp-ms": Number(sequence),
    "manifest-list": `/t/metadata/snap-${id}.avro`,
    summary: { operation: "append" },
    "schema-id": schemaId
  })
  const table = (currentSchemaId: number, snapshots: ReadonlyArray<Snapshot>) =>
    ({ schemas: [k2, renamed], "current-schema-id": currentSchemaId, snapshots }) as unknown as TableMetadata

  it("another engine renamed a column and renamed it back (Java then makes the first schema current again): files written between hold the other name, so they are read by field id", () => {
    // K2 appends (schema 0), Java renames price and appends (schema 1), then renames it back:
    // Java finds the schema identical to schema 0 and makes schema 0 current again.
    const s1 = snapshot(1n, 1n, 0)
    const s2 = snapshot(2n, 2n, 1)
    const s3 = snapshot(3n, 3n, 0)
    const m = table(0, [s1, s2, s3])
    const r = read([k2, renamed], k2, writtenSchemaIds(m, s3, 0))
    assert.isTrue(r.byFieldId)
    assert.deepStrictEqual(names(r.schema), names(k2))
    // The snapshots under schema 1 expired (their files still live): the table's current schema
    // listed before another still says so.
    assert.isTrue(read([k2, renamed], k2, writtenSchemaIds(table(0, [s3]), s3, 0)).byFieldId)
  })

  it("time travel before a rename, the renamed schema current: still by name", () => {
    const s1 = snapshot(1n, 1n, 0)
    const m = table(1, [s1, snapshot(2n, 2n, 1)])
    assert.isFalse(read([k2, renamed], k2, writtenSchemaIds(m, s1, 0)).byFieldId)
  })

  // Asked at every plan: a pass over every snapshot was 3 ms of each read of a table keeping a day
  // of one-second commits (86,400), the event loop held.
  it("passes over a table's snapshots once, however many reads plan it", () => {
    const { items, reads } = countedReads(Array.from({ length: 1_000 }, (_, i) => snapshot(BigInt(i + 1), BigInt(i + 1), i === 500 ? 1 : 0)))
    // Schema 1 current: the snapshots alone say whether it wrote files by then.
    const m = table(1, items)
    assert.deepStrictEqual(writtenSchemaIds(m, items[0]!, 0), [])
    const once = reads()
    assert.deepStrictEqual(writtenSchemaIds(m, items[999]!, 0), [1])
    assert.deepStrictEqual(writtenSchemaIds(m, null, 0), [1])
    assert.deepStrictEqual(writtenSchemaIds(m, items[499]!, 0), [])
    // The two snapshots the test itself takes from the list.
    assert.strictEqual(reads(), once + 2)
  })
})

describe("nameReadColumns: files without field ids, read by name", () => {
  // Another engine renamed price to trade_price and dropped quantity (K2's, shown null under id -3).
  const now = change(1, (f) => (f.name === "quantity" ? null : f.name === "price" ? { ...f, name: "trade_price" } : f))
  const shown = read([k2, now], now)
  const mapping = JSON.stringify([
    { "field-id": 1, names: ["symbol", "ticker"] },
    { "field-id": 2, names: ["price", "trade_price", "px"] },
    { "field-id": 4, names: ["kafka_partition"], fields: [] }
  ])

  it("by the mapping: each column's aliases the files hold, in the mapping's order; a column it leaves out, null", () => {
    const got = Result.getOrThrow(nameReadColumns(now, shown.schema, mapping))(["TICKER", "px", "price", "conditions"])
    assert.deepStrictEqual(got, { symbol: ["ticker"], price: ["price", "px"], kafka_partition: [], conditions: [], quantity: [] })
  })

  it("without a mapping: by the snapshot schema's names (not K2's kept name, not by position)", () => {
    const got = Result.getOrThrow(nameReadColumns(now, shown.schema, undefined))(["symbol", "trade_price", "price", "quantity"])
    assert.deepStrictEqual(got, { symbol: ["symbol"], price: ["trade_price"], kafka_partition: [], conditions: [], quantity: [] })
  })

  it("a mapping that is not the spec's JSON is refused, not guessed at", () => {
    assert.include(Result.getOrThrow(Result.flip(nameReadColumns(now, shown.schema, "{"))), "schema.name-mapping.default is not JSON")
    assert.include(Result.getOrThrow(Result.flip(nameReadColumns(now, shown.schema, "[{\"field-id\": 1}]"))), "a field without names")
  })
})
