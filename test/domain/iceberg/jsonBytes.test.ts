/**
 * parseJsonBytes splits objects and arrays longer than its chunk into pieces parsed on their own
 * (a metadata.json past ~512 MiB makes no string): its value must be parseJson's of the whole text,
 * and what JSON.parse refuses it refuses. Chunks of a few bytes here split every container.
 */
import { assert, describe, it } from "@effect/vitest"
import { parseJson } from "../../../src/domain/iceberg/json.ts"
import { JsonTooLarge, parseJsonBytes } from "../../../src/domain/iceberg/jsonBytes.ts"

const bytes = (text: string) => new TextEncoder().encode(text)
const split = (text: string, chunk = 8, maxString = 1 << 20) => parseJsonBytes(bytes(text), { chunk, maxString })

/** What Iceberg metadata holds: 63-bit ids (beyond a double), ids under 2^53 under 64-bit keys, markers as JSON in strings. */
const metadataText = (indent?: number) =>
  JSON.stringify({
    "format-version": 2,
    "current-snapshot-id": 0,
    "last-sequence-number": 3,
    properties: { "k2.kafka.offsets.g": "{\"t\":{\"0\":12,\"1\":7}}", quote: "a \\\" b \\\\", "é": "ü 😀" },
    snapshots: [
      { "snapshot-id": 0, "sequence-number": 1, "timestamp-ms": 1, summary: { operation: "append" } },
      { "snapshot-id": 5, "parent-snapshot-id": 0, "sequence-number": 2, summary: { operation: "append", "k2.commit-id": "c" } }
    ],
    "snapshot-log": [{ "snapshot-id": 5, "timestamp-ms": 2 }, { "snapshot-id": 0, "timestamp-ms": 1 }],
    "metadata-log": [],
    nested: [[1, [2.5, -3e2, true, false, null]], {}, [], "x"]
  }, null, indent).replace(/"snapshot-id": ?5/g, `"snapshot-id": 9007199254740993`)

describe("parseJsonBytes", () => {
  it("gives parseJson's value, compact or pretty-printed (as Java writes it), however finely it splits", () => {
    for (const text of [metadataText(), metadataText(2), `\ufeff ${metadataText(4)}\n`]) {
      const whole = parseJson(text.replace(/^\ufeff/, ""))
      for (const chunk of [1, 8, 64, 1 << 20]) assert.deepStrictEqual(split(text, chunk), whole, `chunk ${chunk}`)
    }
    // The 64-bit keys' values are exact bigints, also a top-level one parsed apart from the rest.
    const m = split(metadataText()) as { "current-snapshot-id": unknown; snapshots: Array<Record<string, unknown>> }
    assert.strictEqual(m["current-snapshot-id"], 0n)
    assert.strictEqual(m.snapshots[1]!["snapshot-id"], 9007199254740993n)
  })

  it("keeps what JSON.parse keeps: escaped names, a __proto__ member as data, the last of a repeated name", () => {
    const text = `{"__proto__": {"polluted": 1}, "snapsh\\u006fts": [1, 2], "a": 1, "a": [3, 4]}`
    const value = split(text, 1) as Record<string, unknown>
    assert.deepStrictEqual(value, parseJson(text))
    assert.deepStrictEqual(Object.keys(value), ["__proto__", "snapshots", "a"])
    assert.strictEqual(({} as Record<string, unknown>)["polluted"], undefined)
    assert.deepStrictEqual(value["a"], [3, 4])
  })

  it("refuses what JSON.parse refuses, in the pieces and between them", () => {
    for (
      const text of [
        `{"a": [1, 2,]}`,
        `{"a": [1 2]}`,
        `{"a" 1}`,
        `{"a": 1,}`,
        `{a: 1}`,
        `{"a": [1, 2]} x`,
        `{"a": [1, 2}`,
        `{"a": "unterminated}`,
        `{"a": [tru, 1]}`,
        `{"a": {"b": 1]}`,
        ``,
        `   `
      ]
    ) {
      assert.throws(() => JSON.parse(text), SyntaxError, undefined, `JSON.parse takes ${text}`)
      assert.throws(() => split(text, 1), SyntaxError, undefined, text)
    }
  })

  it("names the piece no string holds, by its JSON pointer", () => {
    const error = (() => {
      try {
        split(`{"properties": {"ok": "x", "a/b": "${"y".repeat(100)}"}}`, 8, 64)
      } catch (e) {
        return e
      }
    })()
    assert.instanceOf(error, JsonTooLarge)
    assert.strictEqual((error as JsonTooLarge).pointer, "/properties/a~1b")
    assert.strictEqual((error as JsonTooLarge).bytes, 102)
  })
})
