import { assert, describe, it } from "@effect/vitest"
import { Wakeup } from "../../../src/layers/kafka/wakeup.ts"

describe("Wakeup", () => {
  it("a sleep that times out leaves nothing behind", async () => {
    const w = new Wakeup()
    for (let i = 0; i < 50; i++) await w.sleep(1)
    assert.strictEqual(w.pending, 0)
  })

  it("wake ends every sleep in progress at once", async () => {
    const w = new Wakeup()
    const started = performance.now()
    const sleeps = [w.sleep(60_000), w.sleep(60_000)]
    assert.strictEqual(w.pending, 2)
    w.wake()
    await Promise.all(sleeps)
    assert.strictEqual(w.pending, 0)
    assert.isBelow(performance.now() - started, 30_000)
  })
})
