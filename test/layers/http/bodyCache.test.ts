import { assert, describe, it } from "@effect/vitest"
import { BodyCache } from "../../../src/layers/http/respond.ts"

const held = (cache: BodyCache<unknown>, keys: ReadonlyArray<string>) => keys.filter((k) => cache.get(k) !== undefined).length

describe("BodyCache", () => {
  it("charges each entry its bookkeeping (key, what is kept beside the body), not only its body", () => {
    // 10,000 empty pages: 29 bytes each is 290 KB of bodies, but each entry also holds its key and meta.
    const cache = new BodyCache<{ readonly meta: string }>(64 * 1024)
    const keys = Array.from({ length: 10_000 }, (_, i) => `"etag-${i}"`)
    const meta = "x".repeat(500)
    for (const k of keys) cache.set(k, new Uint8Array(29), { meta }, meta.length)
    // Each entry costs at least its key and its meta besides the body: the budget affords far fewer.
    const n = held(cache, keys)
    assert.isAtMost(n * (29 + 500), 64 * 1024, `${n} entries held`)
    assert.isAbove(n, 0)
  })

  it("a cached body holds only its own bytes, not the shared slab a small Buffer is cut from", () => {
    const cache = new BodyCache<null>(1024 * 1024)
    // Buffer.from of a short string is a view into Node's 8 KiB pool.
    const small = Buffer.from(`{"data":[],"next_cursor":null`)
    assert.isAbove(small.buffer.byteLength, small.byteLength)
    cache.set("k", small, null)
    const hit = cache.get("k")!
    assert.strictEqual(hit.body.buffer.byteLength, small.byteLength)
    assert.strictEqual(Buffer.from(hit.body).toString(), `{"data":[],"next_cursor":null`)
  })

  it("stays within its budget as entries come and go, and replaces an entry without counting it twice", () => {
    const cache = new BodyCache<null>(100_000)
    const keys = Array.from({ length: 1_000 }, (_, i) => `k${i}`)
    for (const k of keys) cache.set(k, new Uint8Array(1_000 + (k.length * 37) % 500), null)
    for (const k of keys.slice(0, 50)) cache.set(k, new Uint8Array(2_000), null)
    const bodies = keys.map((k) => cache.get(k)).filter((h) => h !== undefined).reduce((n, h) => n + h.body.byteLength, 0)
    assert.isAtMost(bodies, 100_000)
    assert.isAbove(bodies, 50_000)
  })
})
