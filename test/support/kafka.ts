/**
 * The real Kafka broker of the integration tests: `ensureBroker()` runs `scripts/kafka.sh start`
 * (idempotent; the first run downloads the broker jars with Maven) and fails loudly when the
 * broker cannot be started. Override the address with K2_TEST_KAFKA_BROKERS to use another one.
 */
import { Effect } from "effect"
import { type Admin, Kafka, logLevel } from "kafkajs"
import { serviceStarter } from "./services.ts"

export const kafkaBrokers: ReadonlyArray<string> = (process.env.K2_TEST_KAFKA_BROKERS ?? "127.0.0.1:9092").split(",")

export const ensureBroker = serviceStarter("kafka.sh", "the Kafka broker", "K2_TEST_KAFKA_BROKERS")

/** Runs `f` with a kafkajs admin client of the real broker (test tooling, any client would do). */
const withAdmin = <A>(f: (admin: Admin) => Promise<A>) =>
  Effect.promise(async () => {
    const admin = new Kafka({ brokers: [...kafkaBrokers], clientId: "k2-test-admin", logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    try {
      return await f(admin)
    } finally {
      await admin.disconnect()
    }
  })

/** Deletes a partition's records below `before` on the real broker, as retention does. */
export const deleteRecords = (topic: string, partition: number, before: number) =>
  withAdmin(async (admin) => {
    await admin.fetchTopicMetadata({ topics: [topic] })
    await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(before) }] })
  })

/** The members the broker counts in a consumer group now. */
export const groupMembers = (groupId: string) =>
  withAdmin(async (admin) => (await admin.describeGroups([groupId])).groups[0]?.members.length ?? 0)

/**
 * Sends `n` records to one partition in a committed transaction, as an exactly-once producer
 * upstream does: the log then holds the records and, after them, the transaction's commit marker.
 */
export const sendTransactional = (topic: string, partition: number, n: number) =>
  Effect.promise(async () => {
    const kafka = new Kafka({ brokers: [...kafkaBrokers], clientId: "k2-test-tx", logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ transactionalId: `k2-test-${topic}`, idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    try {
      const tx = await producer.transaction()
      await tx.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ partition, value: `tx${i}` })) })
      await tx.commit()
    } finally {
      await producer.disconnect()
    }
  })

