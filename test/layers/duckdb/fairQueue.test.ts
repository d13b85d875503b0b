/** The line for DuckDB connections by caller (ADR-100): round robin between callers, first come first served within one. */
import { assert, describe, it } from "@effect/vitest"
import { FairQueue } from "../../../src/layers/duckdb/fairQueue.ts"

/** Hands out every waiter, one freed connection at a time, giving each back at once. */
const drain = (line: FairQueue<string>): Array<string> => {
  const order: Array<string> = []
  for (let next = line.next(); next !== undefined; next = line.next()) {
    order.push(next.waiter)
    line.released(next.owner)
  }
  return order
}

describe("FairQueue", () => {
  it("is first come, first served for one caller", () => {
    const line = new FairQueue<string>()
    line.served("")
    for (const w of ["a", "b", "c"]) line.enqueue("", w)
    assert.strictEqual(line.size, 3)
    assert.deepStrictEqual(drain(line), ["a", "b", "c"])
    assert.strictEqual(line.size, 0)
  })

  it("serves a second caller's one waiter before the first caller's many", () => {
    const line = new FairQueue<string>()
    line.served("alice")
    for (let i = 1; i <= 10; i++) line.enqueue("alice", `a${i}`)
    line.enqueue("bob", "b1")
    assert.deepStrictEqual(drain(line), ["b1", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "a10"])
  })

  it("takes callers with waiters in turn, the least recently served first", () => {
    const line = new FairQueue<string>()
    line.served("alice")
    line.served("bob")
    for (const w of ["a1", "a2", "a3"]) line.enqueue("alice", w)
    for (const w of ["b1", "b2"]) line.enqueue("bob", w)
    line.enqueue("carol", "c1")
    // carol never served; then alice (served before bob), bob, alice, bob, alice.
    assert.deepStrictEqual(drain(line), ["c1", "a1", "b1", "a2", "b2", "a3"])
  })

  it("a caller holding connections without waiters keeps its place: it is not new again", () => {
    const line = new FairQueue<string>()
    line.served("alice") // still held
    line.served("bob")
    line.released("bob") // bob holds none and waits for none: forgotten
    line.enqueue("alice", "a1")
    line.enqueue("bob", "b1")
    assert.deepStrictEqual(drain(line), ["b1", "a1"])
  })

  it("a waiter that gives up leaves the line; one already handed a connection is not in it", () => {
    const line = new FairQueue<string>()
    line.served("alice")
    line.enqueue("alice", "a1")
    line.enqueue("alice", "a2")
    line.enqueue("bob", "b1")
    assert.isTrue(line.remove("bob", "b1"))
    assert.isFalse(line.remove("bob", "b1"))
    assert.strictEqual(line.size, 2)
    const next = line.next()
    assert.deepStrictEqual(next, { owner: "alice", waiter: "a1" })
    assert.isFalse(line.remove("alice", "a1"))
    assert.deepStrictEqual(drain(line), ["a2"])
    assert.isUndefined(line.next())
  })
})
