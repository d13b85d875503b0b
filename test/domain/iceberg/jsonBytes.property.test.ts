/**
 * parseJsonBytes against the whole text's parse (TextDecoder, then parseJson), with chunks of a
 * few bytes so every container is split: the same value (bigints where parseJson gives them, keys
 * in the same order, `__proto__` as data) and the same refusals, on valid and mutated documents.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { parseJson } from "../../../src/domain/iceberg/json.ts"
import { parseJsonBytes } from "../../../src/domain/iceberg/jsonBytes.ts"

/** A value as a comparable tree: bigints and numbers told apart, keys in their order. */
const canon = (v: unknown): unknown => {
  if (typeof v === "bigint") return `bigint:${v}`
  if (typeof v === "number") return Object.is(v, -0) ? "number:-0" : `number:${v}`
  if (Array.isArray(v)) return v.map(canon)
  if (typeof v === "object" && v !== null) {
    return { proto: Object.getPrototypeOf(v) === Object.prototype, entries: Object.keys(v).map((k) => [k, canon((v as Record<string, unknown>)[k])]) }
  }
  return v
}

const outcome = (f: () => unknown) => {
  try {
    return { ok: canon(f()) }
  } catch (e) {
    return { error: (e as Error).name }
  }
}

const whole = (bytes: Uint8Array) => outcome(() => parseJson(new TextDecoder().decode(bytes)))
const split = (bytes: Uint8Array, chunk: number) => outcome(() => parseJsonBytes(bytes, { chunk, maxString: 1 << 20 }))

const key = fc.oneof(
  fc.constantFrom("snapshot-id", "parent-snapshot-id", "sequence-number", "__proto__", "a", "0", "1", "snapsh\\u006ft-id", "é", "😀", "a\\\\", "[\"{"),
  fc.string({ unit: "binary", maxLength: 6 })
)
const bigInts = fc.constantFrom("9007199254740993", "9007199254740992", "-9223372036854775808", "9223372036854775807", "1.5", "1e3", "0", "-0", "42")
const ws = fc.constantFrom("", " ", "\n", "\t ", "\r\n  ")

/** JSON text built by hand: numbers as literals (64-bit ones too), unicode and escapes in strings. */
const { text: jsonText } = fc.letrec<{ text: string; leaf: string; array: string; object: string }>((tie) => ({
  text: fc.oneof({ depthSize: "small", withCrossShrink: true }, tie("leaf"), tie("array"), tie("object")),
  leaf: fc.oneof(
    bigInts,
    fc.constantFrom("true", "false", "null", "\"a\\\\\"", "\"]}\\\"{[\"", "\"\\ud83d\\ude00\"", "\"\\u0022\""),
    fc.string({ unit: "binary", maxLength: 8 }).map((s) => JSON.stringify(s))
  ),
  array: fc.tuple(fc.array(fc.tuple(ws, tie("text"), ws), { maxLength: 5 }), ws).map(([items, w]) =>
    `[${items.map(([a, v, b]) => a + v + b).join(",")}${w}]`
  ),
  object: fc.tuple(fc.array(fc.tuple(key, ws, tie("text"), ws), { maxLength: 5 }), ws).map(([members, w]) =>
    `{${members.map(([k, a, v, b]) => `${a}${JSON.stringify(k).replace(/\\\\u/g, "\\u")}${b}:${a}${v}${b}`).join(",")}${w}}`
  )
}))

const bytesOf = (text: string) => new TextEncoder().encode(text)

describe("parseJsonBytes, differential", () => {
  it("gives the whole text's value for valid documents, however finely split", () => {
    fc.assert(
      fc.property(jsonText, ws, ws, fc.boolean(), fc.integer({ min: 1, max: 16 }), (text, a, b, bom, chunk) => {
        const bytes = bytesOf((bom ? "\ufeff" : "") + a + text + b)
        assert.deepStrictEqual(split(bytes, chunk), whole(bytes))
      }),
      { numRuns: 3000 }
    )
  })

  it("refuses what the whole text's parse refuses (a byte inserted, removed or replaced)", () => {
    const junk = fc.constantFrom(",", ":", "]", "}", "[", "{", "\"", "\\", " ", "x", "1", "\ufeff", "\u00a0")
    fc.assert(
      fc.property(jsonText, fc.nat(), fc.integer({ min: 0, max: 2 }), junk, fc.integer({ min: 1, max: 8 }), (text, at, op, c, chunk) => {
        const i = at % (text.length + 1)
        const mutated = op === 0 ? text.slice(0, i) + c + text.slice(i) : op === 1 ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + c + text.slice(i + 1)
        const bytes = bytesOf(mutated)
        assert.deepStrictEqual(split(bytes, chunk), whole(bytes), JSON.stringify(mutated))
      }),
      { numRuns: 5000 }
    )
  })

  it("refuses a byte order mark inside the document, as JSON.parse does", () => {
    for (const text of ["[\ufeff1, 2]", "{\"a\": \ufeff1, \"b\": 2}", "{\"a\": [1, \ufeff{\"c\": 3}]}"]) {
      assert.throws(() => parseJson(new TextDecoder().decode(bytesOf(text))), SyntaxError, undefined, text)
      assert.throws(() => parseJsonBytes(bytesOf(text), { chunk: 1, maxString: 1 << 20 }), SyntaxError, undefined, text)
    }
  })

  it("refuses characters after an empty top-level object or array, as JSON.parse does", () => {
    for (const text of ["{ }x", "[ ]]", "{ }}", "[  ] 1"]) {
      assert.throws(() => JSON.parse(text), SyntaxError, undefined, text)
      assert.throws(() => parseJsonBytes(bytesOf(text), { chunk: 1, maxString: 1 << 20 }), SyntaxError, undefined, text)
    }
  })
})
