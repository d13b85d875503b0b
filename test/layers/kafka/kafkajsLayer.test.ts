/**
 * The kafkajs layer's producer and admin paths without a broker: the client's `producer()` and
 * `admin()` are replaced on its prototype for the length of a test with fakes that record what
 * the layer asks, and restored after it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Redacted } from "effect"
import kafkajs from "kafkajs"
import { layerKafkajs } from "../../../src/layers/kafka/kafkajs.ts"
import { KafkaAdmin, KafkaSink } from "../../../src/services/KafkaSink.ts"
import { prototypeStubs } from "../../support/prototypeStubs.ts"

const stub = prototypeStubs()
const replace = (name: "admin" | "producer", impl: (options: Record<string, unknown>) => object) =>
  stub(kafkajs.Kafka.prototype as unknown as Record<string, unknown>, name, impl)

const connected = { connect: async () => {}, disconnect: async () => {} }
/** Port 1 on loopback: nothing of these tests may reach it (every network method is faked). */
const layer = () => layerKafkajs({ brokers: ["127.0.0.1:1"] })

describe("kafkajs layer, producer", () => {
  it.effect("keys and header values given as bytes go out as those bytes; other headers as their text", () =>
    Effect.gen(function*() {
      const batches: Array<{ topicMessages: Array<{ topic: string; messages: Array<{ key: unknown; headers?: Record<string, unknown> }> }> }> = []
      replace("admin", () => connected)
      replace("producer", () => ({
        ...connected,
        sendBatch: async (batch: (typeof batches)[number]) => {
          batches.push(batch)
          return [{ topicName: "t", partition: 0, errorCode: 0, baseOffset: "0" }]
        }
      }))
      const keyBytes = Uint8Array.of(0xff, 0x00)
      yield* Effect.gen(function*() {
        yield* (yield* KafkaSink).send([{
          topic: "t",
          key: "\ufffd\u0000",
          keyBytes,
          value: Uint8Array.of(1),
          headers: { a: "text", b: "\ufffd" },
          headerBytes: { b: Uint8Array.of(0x80) }
        }])
      }).pipe(Effect.provide(layer()))
      const [message] = batches[0]!.topicMessages[0]!.messages
      assert.deepStrictEqual([...(message!.key as Uint8Array)], [0xff, 0x00])
      assert.strictEqual(message!.headers!.a, "text")
      assert.deepStrictEqual([...(message!.headers!.b as Uint8Array)], [0x80])
    }))

  it.effect("a record naming a partition the topic lacks is refused, first as metadata to refresh, then for good; the last partition is taken", () =>
    Effect.gen(function*() {
      let createPartitioner: (() => (args: object) => number) | undefined
      replace("admin", () => connected)
      replace("producer", (options) => {
        createPartitioner = options.createPartitioner as typeof createPartitioner
        return connected
      })
      yield* Effect.gen(function*() {
        return yield* KafkaSink
      }).pipe(Effect.provide(layer()))
      const partition = createPartitioner!()
      const partitionMetadata = [0, 1].map((partitionId) => ({ partitionId, leader: 1 }))
      const args = (p: number) => ({ topic: "t", partitionMetadata, message: { key: null, value: null, partition: p } })
      const last = args(1)
      assert.strictEqual(partition(last), 1)
      const beyond = args(2)
      assert.throws(() => partition(beyond), kafkajs.KafkaJSMetadataNotLoaded as never)
      assert.throws(() => partition(beyond), kafkajs.KafkaJSNonRetriableError as never)
    }))
  it.effect("a send refused by the ACLs on a topic the principal may not DESCRIBE is NotAuthorized, not an unknown topic to make again", () =>
    Effect.gen(function*() {
      // Kafka hides a topic the principal may not DESCRIBE: listTopics lacks it, though it exists.
      replace("admin", () => ({ ...connected, listTopics: async () => [] }))
      const refused = new kafkajs.KafkaJSProtocolError({ type: "TOPIC_AUTHORIZATION_FAILED", code: 29, retriable: false, message: "Not authorized to access topics: [Topic authorization failed]" } as never)
      replace("producer", () => ({
        ...connected,
        sendBatch: async () => {
          throw Object.assign(new kafkajs.KafkaJSNonRetriableError(refused), { cause: refused })
        }
      }))
      const error = yield* Effect.flip(Effect.gen(function*() {
        return yield* (yield* KafkaSink).send([{ topic: "t.dlq", key: "k", value: Uint8Array.of(1) }])
      }).pipe(Effect.provide(layerKafkajs({ brokers: ["127.0.0.1:1"], security: { sasl: { mechanism: "plain", username: "k2", password: Redacted.make("pw") } } }))))
      assert.strictEqual(error.reason._tag, "NotAuthorized")
      assert.include(error.message, "User:k2 is not allowed WRITE on topic t.dlq")
    }))
})

describe("kafkajs layer, admin", () => {
  it.effect("a topic's description holds its own overrides only, not the broker's settings", () =>
    Effect.gen(function*() {
      const { ConfigSource } = kafkajs
      replace("producer", () => connected)
      replace("admin", () => ({
        ...connected,
        fetchTopicMetadata: async () => ({ topics: [{ name: "t", partitions: [{ partitionId: 0, leader: 1 }] }] }),
        describeConfigs: async () => ({
          resources: [{
            resourceName: "t",
            configEntries: [
              { configName: "retention.ms", configValue: "3600000", configSource: ConfigSource.TOPIC_CONFIG },
              { configName: "compression.type", configValue: "producer", configSource: ConfigSource.DEFAULT_CONFIG },
              { configName: "log.segment.bytes", configValue: "1073741824", configSource: ConfigSource.STATIC_BROKER_CONFIG }
            ]
          }]
        })
      }))
      const [described] = yield* Effect.gen(function*() {
        return yield* (yield* KafkaAdmin).describeTopics(["t"])
      }).pipe(Effect.provide(layer()))
      assert.deepStrictEqual(described, { name: "t", partitions: 1, config: { "retention.ms": "3600000" } })
    }))
})

describe("kafkajs layer, connecting", () => {
  /** A few turns of the event loop: the layer's import and the fakes' promises settle. */
  const settled = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 20)))

  it.effect("a connect under way is interrupted at once (the first-contact wait ran out); the client is disconnected once it ends", () =>
    Effect.gen(function*() {
      // kafkajs goes on retrying a connect for seconds, and has no way to stop it.
      let connectEnds: (() => void) | undefined
      let disconnects = 0
      replace("admin", () => ({
        connect: () => new Promise<void>((resolve) => void (connectEnds = resolve)),
        disconnect: async () => void disconnects++
      }))
      replace("producer", () => connected)
      const fiber = yield* Effect.forkChild(Effect.never.pipe(Effect.provide(layer())))
      yield* settled
      assert.isDefined(connectEnds, "not connecting")
      const interrupting = yield* Effect.forkChild(Fiber.interrupt(fiber))
      yield* settled
      const interrupted = interrupting.pollUnsafe() !== undefined
      const disconnectsMeanwhile = disconnects
      connectEnds!()
      yield* settled
      assert.isTrue(interrupted, "the interruption waited for the connect")
      assert.strictEqual(disconnectsMeanwhile, 0, "disconnected while its connect was pending (kafkajs waits for its requests)")
      assert.strictEqual(disconnects, 1, "not disconnected once the connect ended")
    }))

  it.effect("what a connect has met so far is each error kafkajs logs, said once, naming the broker", () =>
    Effect.gen(function*() {
      // As kafkajs 2.2 logs a connect it retries: the connection's error, then the retrier's words for it.
      replace("admin", function(this: InstanceType<typeof kafkajs.Kafka>) {
        const logger = this.logger()
        return {
          connect: async () => {
            logger.namespace("Connection").error("Connection error: connect ECONNREFUSED 127.0.0.1:1", { broker: "127.0.0.1:1" })
            logger.namespace("BrokerPool").error(
              "Failed to connect to seed broker, trying another broker from the list: Connection error: connect ECONNREFUSED 127.0.0.1:1",
              { retryCount: 0, retryTime: 100 }
            )
            logger.namespace("Connection").info("not an error", { broker: "127.0.0.1:1" })
            logger.namespace("Connection").warn("a warning, not an error either", { broker: "127.0.0.1:1" })
            logger.namespace("Connection").error("Connection timeout", { broker: "127.0.0.1:1" })
          },
          disconnect: async () => {}
        }
      })
      replace("producer", () => connected)
      // Shown or not (a log level that prints warnings and info too), only errors are what the connect met.
      // Errors are printed too at a log level that shows them (ERROR and up), and only then.
      for (const [logLevel, printed] of [[undefined, 0], [kafkajs.logLevel.ERROR, 3], [kafkajs.logLevel.DEBUG, 3]] as const) {
        const met: Array<string> = []
        const errors: Array<string> = []
        // Printed to stderr, every level (kafkajsLogs.test.ts): the errors counted here.
        const stderrWrite = process.stderr.write
        process.stderr.write = ((line: string) => {
          if (line.includes(`"level":"ERROR"`)) errors.push(line)
          return true
        }) as typeof process.stderr.write
        yield* Effect.scoped(Layer.build(layerKafkajs({ brokers: ["127.0.0.1:1"], clientError: (m) => void met.push(m), ...(logLevel === undefined ? {} : { logLevel }) }))).pipe(
          Effect.ensuring(Effect.sync(() => { process.stderr.write = stderrWrite }))
        )
        assert.deepStrictEqual(met, ["Connection error: connect ECONNREFUSED 127.0.0.1:1", "Connection timeout (127.0.0.1:1)"], String(logLevel))
        assert.strictEqual(errors.length, printed, errors.join("\n"))
      }
    }))
})
