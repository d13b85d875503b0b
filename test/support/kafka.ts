/**
 * The real Kafka broker of the integration tests: `ensureBroker()` runs `scripts/kafka.sh start`
 * (idempotent; the first run downloads the broker jars with Maven) and fails loudly when the
 * broker cannot be started. Override the address with K2_TEST_KAFKA_BROKERS to use another one.
 */
import { Effect } from "effect"
import { Kafka, logLevel } from "kafkajs"
import { serviceStarter } from "./services.ts"

export const kafkaBrokers: ReadonlyArray<string> = (process.env.K2_TEST_KAFKA_BROKERS ?? "127.0.0.1:9092").split(",")

export const ensureBroker = serviceStarter("kafka.sh", "the Kafka broker", "K2_TEST_KAFKA_BROKERS")

/** Deletes a partition's records below `before` on the real broker, as retention does. */
export const deleteRecords = (topic: string, partition: number, before: number) =>
  Effect.promise(async () => {
    const admin = new Kafka({ brokers: [...kafkaBrokers], clientId: "k2-test-retention", logLevel: logLevel.NOTHING }).admin()
    await admin.connect()
    try {
      await admin.fetchTopicMetadata({ topics: [topic] })
      await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset: String(before) }] })
    } finally {
      await admin.disconnect()
    }
  })
