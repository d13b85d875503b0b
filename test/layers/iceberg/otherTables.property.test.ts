/**
 * `tableUuidOf` against what it replaced (ADR-81): the whole file decoded and JSON.parse'd, its
 * top-level `table-uuid` if a string, else null. Orphan removal and table creation refuse a
 * location where a file names another table; null and the table's own uuid both let the file be
 * taken as the table's. So wherever the old reading named a table, the new one must name the same.
 */
import * as zlib from "node:zlib"
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { tableUuidOf } from "../../../src/layers/iceberg/otherTables.ts"

const oldTableUuidOf = (bytes: Uint8Array): string | null => {
  try {
    const text = new TextDecoder().decode(bytes[0] === 0x1f && bytes[1] === 0x8b ? zlib.gunzipSync(bytes) : bytes)
    const v: unknown = JSON.parse(text)
    if (typeof v !== "object" || v === null || Array.isArray(v)) return null
    const u = (v as Record<string, unknown>)["table-uuid"]
    return typeof u === "string" ? u : null
  } catch {
    return null
  }
}

const encode = (s: string) => Buffer.from(s, "utf8")

/** A string literal, some characters written as escapes (`\u002d`, `\"`, `\/`), as any writer may. */
const literal = (s: string, escapes: ReadonlyArray<boolean>) =>
  `"${
    Array.from(s).map((c, i) => {
      if (c === "\"" || c === "\\") return `\\${c}`
      if (c < " ") return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
      if (escapes[i % escapes.length] && c.length === 1) return c === "/" ? "\\/" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`
      return c
    }).join("")
  }"`

const space = fc.constantFrom("", "", "", " ", "\n", "\t ", "\r\n  ")
const key = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("table-uuid", "table-uuid", "format-version", "snapshots", "summary", "__proto__", "table-uuid ", "Table-uuid") },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 6 }) }
)
const tricky = fc.constantFrom("{", "}", "[", "]", "\"", "\\", "\\\"", "\",\"table-uuid\":\"evil\"}", "é", "😀", "\u2028", "\ufeff", "a\\", "")
const str = fc.oneof(fc.uuid(), tricky, fc.string({ unit: "binary", maxLength: 8 }), fc.array(tricky, { maxLength: 4 }).map((a) => a.join("")))
const escapes = fc.array(fc.boolean(), { minLength: 1, maxLength: 5 })

/** Random JSON text whose objects often hold `table-uuid` (nested too), keys escaped or not, duplicates allowed. */
const { json } = fc.letrec<{ json: string; obj: string; arr: string }>((tie) => ({
  json: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.tuple(str, escapes).map(([s, e]) => literal(s, e)),
    fc.constantFrom("1", "-0", "1e999", "-1.5E-3", "9007199254740993", "true", "false", "null", "0.1"),
    tie("obj"),
    tie("arr")
  ),
  obj: fc.array(fc.tuple(space, key, escapes, space, space, tie("json"), space), { maxLength: 5 }).chain((members) =>
    space.map((s) => `{${members.map(([a, k, e, b, c, v, d]) => `${a}${literal(k, e)}${b}:${c}${v}${d}`).join(",")}${s}}`)
  ),
  arr: fc.array(fc.tuple(space, tie("json"), space), { maxLength: 4 }).map((items) => `[${items.map(([a, v, b]) => `${a}${v}${b}`).join(",")}]`)
}))

/** A document: a top-level object, often with a string table-uuid, possibly deeply nested. */
const document = fc.tuple(json, fc.tuple(fc.uuid(), escapes), fc.nat(3), fc.boolean(), fc.nat(40)).map(([body, [uuid, e], where, wrap, depth]) => {
  const member = `${literal("table-uuid", e)}:${literal(uuid, [false])}`
  const deep = wrap ? `${"[".repeat(depth * 50)}${"{\"a\":".repeat(depth)}1${"}".repeat(depth)}${"]".repeat(depth * 50)}` : "0"
  const inner = body.startsWith("{") && !/^\{\s*\}$/.test(body) ? body.slice(1, -1) : `"x":${body}`
  return [
    `{${member},"deep":${deep},${inner}}`,
    `{${inner},"deep":${deep},${member}}`,
    `{"x":${body},"deep":${deep}}`,
    body
  ][where]!
})

/** What a file may have become: cut short, junk after, a BOM, gzip, a byte changed, dropped or doubled. */
const corrupt = (doc: Buffer) =>
  fc.oneof(
    fc.constant(doc),
    fc.nat(doc.length).map((n) => doc.subarray(0, n)),
    fc.constantFrom("x", "}", "{}", " \n", "\u0000", ",\"table-uuid\":\"evil\"}", "]").map((j) => Buffer.concat([doc, encode(j)])),
    fc.constant(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), doc])),
    fc.constant(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf]), doc])),
    fc.constant(zlib.gzipSync(doc)),
    fc.tuple(fc.nat(Math.max(0, doc.length - 1)), fc.constantFrom(0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x20, 0x00, 0xff, 0xc3, 0x30))
      .map(([at, b]) => {
        const c = Buffer.from(doc)
        if (c.length > 0) c[at] = b
        return c
      }),
    fc.nat(Math.max(0, doc.length - 1)).map((at) => Buffer.concat([doc.subarray(0, at), doc.subarray(at + 1)])),
    fc.nat(Math.max(0, doc.length - 1)).map((at) => Buffer.concat([doc.subarray(0, at + 1), doc.subarray(at)]))
  )

describe("tableUuidOf, against JSON.parse of the whole file", () => {
  it("names the table JSON.parse names wherever that names one", () => {
    fc.assert(
      fc.property(document.chain((d) => corrupt(encode(d))), (bytes) => {
        const before = oldTableUuidOf(bytes)
        const now = tableUuidOf(bytes)
        if (before !== null) assert.strictEqual(now, before)
      }),
      { numRuns: 5_000 }
    )
  })

  it("names no table for any cut of a file", () => {
    fc.assert(
      fc.property(document.map(encode).filter((doc) => doc.length < 2_000), (doc) => {
        for (let n = 0; n < doc.length; n++) {
          const cut = doc.subarray(0, n)
          assert.strictEqual(tableUuidOf(cut), oldTableUuidOf(cut), `cut at ${n} of ${doc.toString()}`)
        }
      }),
      { numRuns: 200 }
    )
  })
})
