import { assert, describe, it } from "@effect/vitest"
import { lru } from "../../src/domain/lru.ts"

describe("lru", () => {
  it("evicts the least recently used entry past the capacity", () => {
    const cache = lru<number>(2)
    cache.set("a", 1)
    cache.set("b", 2)
    assert.strictEqual(cache.get("a"), 1) // a is now the most recent
    cache.set("c", 3)
    assert.strictEqual(cache.get("b"), undefined)
    assert.deepStrictEqual([cache.get("a"), cache.get("c")], [1, 3])
  })

  it("bounds the total weight, not the number of entries", () => {
    const cache = lru<ReadonlyArray<number>>(10, (xs) => xs.length)
    cache.set("small1", [1])
    cache.set("small2", [1, 2])
    cache.set("big", [1, 2, 3, 4, 5, 6])
    assert.strictEqual(cache.weight, 9)
    cache.set("big2", [1, 2, 3, 4, 5]) // 14 > 10: small1, small2, then big go
    assert.strictEqual(cache.get("small1"), undefined)
    assert.strictEqual(cache.get("small2"), undefined)
    assert.strictEqual(cache.get("big"), undefined)
    assert.strictEqual(cache.weight, 5)
    // Replacing a key replaces its weight.
    cache.set("big2", [1])
    assert.strictEqual(cache.weight, 1)
  })

  it("keeps the newest entry even when it alone is heavier than the capacity", () => {
    const cache = lru<string>(3, (s) => s.length)
    cache.set("a", "xx")
    cache.set("b", "xxxxxxxx")
    assert.strictEqual(cache.get("a"), undefined)
    assert.strictEqual(cache.get("b"), "xxxxxxxx")
  })
})
