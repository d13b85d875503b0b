/**
 * The connection pool K2 hands platformatic's `consumer.fetch` (platformaticFetch.ts): Fetch
 * v12-v17 parsed by K2, other requests as they were, and any other Fetch version (a broker before
 * Kafka 2.7) failed unsent, naming the version and what to do, never retried.
 */
import { assert, describe, it } from "@effect/vitest"
import { MultipleErrors } from "@platformatic/kafka"
import { fromPlatformatic } from "../../../src/layers/kafka/platformaticErrors.ts"
import { KafkaFetchVersionUnsupported, rawFetchPool } from "../../../src/layers/kafka/platformaticFetch.ts"

const FETCH = 1
const METADATA = 3

/** A pool of one connection that records what it is asked to send. */
const recording = () => {
  const sent: Array<{ apiKey: number; apiVersion: number; parser: unknown }> = []
  const connection = {
    send: (apiKey: number, apiVersion: number, _payload: unknown, parser: unknown) => {
      sent.push({ apiKey, apiVersion, parser })
    }
  }
  return { sent, pool: { get: (_broker: unknown, callback: (e: unknown, c: typeof connection) => void) => callback(null, connection) } }
}

const k2Parser = () => undefined
const theirs = () => undefined

/** `send` through the wrapped pool's connection for `broker`: what its callback got, if anything. */
const send = (pool: ReturnType<typeof rawFetchPool>, apiKey: number, apiVersion: number) =>
  new Promise<unknown>((resolve) => {
    pool.get({ host: "10.0.0.7", port: 9092 }, (_e, connection) => {
      connection!.send(apiKey, apiVersion, () => undefined, theirs, true, true, resolve)
      // A request sent is answered by the (absent) broker: none here.
      setTimeout(() => resolve("sent"), 20)
    })
  })

describe("rawFetchPool", () => {
  it("sends Fetch v12-v17 with K2's parser and other requests with their own", async () => {
    const { pool, sent } = recording()
    const raw = rawFetchPool(() => pool as never, k2Parser)
    for (const version of [12, 15, 17]) assert.strictEqual(await send(raw, FETCH, version), "sent")
    assert.strictEqual(await send(raw, METADATA, 12), "sent")
    assert.deepStrictEqual(sent, [
      { apiKey: FETCH, apiVersion: 12, parser: k2Parser },
      { apiKey: FETCH, apiVersion: 15, parser: k2Parser },
      { apiKey: FETCH, apiVersion: 17, parser: k2Parser },
      { apiKey: METADATA, apiVersion: 12, parser: theirs }
    ])
  })

  it("fails a Fetch below v12 unsent, naming the broker, its version and what to do; the consumer fails, unretried", async () => {
    const { pool, sent } = recording()
    const raw = rawFetchPool(() => pool as never, k2Parser)
    const e = await send(raw, FETCH, 11)
    assert.instanceOf(e, KafkaFetchVersionUnsupported)
    assert.strictEqual((e as KafkaFetchVersionUnsupported).version, 11)
    assert.include(
      (e as Error).message,
      "the broker 10.0.0.7:9092 answers Fetch v11 at most (Kafka before 2.7): the platformatic layer reads Fetch v12-v17 responses only. " +
        "Fix: upgrade the broker"
    )
    // Not sent; platformatic does not retry it (canRetry false) and K2 rejects it.
    assert.deepStrictEqual(sent, [])
    assert.isFalse((e as KafkaFetchVersionUnsupported).canRetry)
    const failed = fromPlatformatic("fetch", new MultipleErrors("fetch failed 1 times.", [e as Error]), "t")
    assert.strictEqual(failed.reason._tag, "KafkaRejected")
    assert.isFalse(failed.retryable)
    assert.include(failed.message, "KafkaFetchVersionUnsupported: the broker 10.0.0.7:9092 answers Fetch v11 at most")
  })

  it("fails a Fetch above v17 (a newer platformatic) as well, saying so", async () => {
    const { pool, sent } = recording()
    const e = await send(rawFetchPool(() => pool as never, k2Parser), FETCH, 18)
    assert.include((e as Error).message, "@platformatic/kafka chose Fetch v18 for the broker 10.0.0.7:9092, newer than the v12-v17 K2 reads")
    assert.deepStrictEqual(sent, [])
  })
})
