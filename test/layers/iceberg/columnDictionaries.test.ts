/**
 * The decisions which batch columns load as codes (columnDictionaries.ts), without DuckDB: codes
 * must give back each row's value exactly, whatever shape it has, and a column of many distinct
 * values must load as values.
 */
import { assert, describe, it } from "@effect/vitest"
import { collectionDictionary, smallDictionary } from "../../../src/layers/iceberg/columnDictionaries.ts"

/** `distinct` cycled over `rows` rows, each value a fresh copy (feeds decode a new array per record). */
const cycled = (distinct: ReadonlyArray<unknown>, rows: number) =>
  Array.from({ length: rows }, (_, r) => structuredClone(distinct[r % distinct.length]))

describe("collectionDictionary", () => {
  it("codes every row to a value equal to it, and rows of equal content to one code", () => {
    // Shapes the coder keys differently (empty, one string, one pair, anything else) and values that
    // would collide if it keyed them loosely: a pair's key or value alone, a string that is a pair's key.
    const distinct: ReadonlyArray<unknown> = [
      [],
      ["a"],
      ["b"],
      [["a", "b"]],
      [["a", "c"]],
      [["b", "b"]],
      ["a", "b"],
      [["a", "b"], ["c", "d"]],
      null
    ]
    const data = cycled(distinct, distinct.length * 8)
    // A run of one object (a feed reusing its empty value) takes the code of the row before.
    const shared = ["x"]
    data.push(shared, shared, shared)
    const dictionary = collectionDictionary(data)
    assert.isNotNull(dictionary)
    data.forEach((v, r) => {
      const code = dictionary!.codes[r]
      if (v === null) assert.isNull(code)
      else assert.deepStrictEqual(dictionary!.values[code!], v)
    })
    // Eight non-null contents in the cycle and ["x"]: one value each.
    assert.strictEqual(dictionary!.values.length, 9)
  })

  it("loads a column with more distinct values than an eighth of its rows as values", () => {
    const rows = 80
    assert.isNotNull(collectionDictionary(cycled(Array.from({ length: 10 }, (_, i) => [`c${i}`]), rows)))
    assert.isNull(collectionDictionary(cycled(Array.from({ length: 11 }, (_, i) => [`c${i}`]), rows)))
    assert.isNull(collectionDictionary(cycled(Array.from({ length: 11 }, (_, i) => [["k", `v${i}`]]), rows)))
  })
})

describe("smallDictionary", () => {
  it("gives a column's distinct strings when they are few, nulls aside", () => {
    const dictionary = smallDictionary(cycled(["ASX", null, "CHI", "ASX"], 80))
    assert.deepStrictEqual([...dictionary ?? []].sort(), ["ASX", "CHI"])
  })

  it("loads as VARCHAR a column of many distinct strings, of only nulls, or holding a value no ENUM holds", () => {
    assert.isNull(smallDictionary(cycled(Array.from({ length: 11 }, (_, i) => `s${i}`), 80)))
    assert.isNull(smallDictionary(cycled([null], 80)))
    assert.isNull(smallDictionary(cycled(["ASX", "A\u0000X"], 80)))
    assert.isNull(smallDictionary(cycled(["ASX", "A\uD800X"], 80)))
  })
})
