/**
 * The real Kafka broker of the integration tests: `ensureBroker()` runs `scripts/kafka.sh start`
 * (idempotent; the first run downloads the broker jars with Maven) and fails loudly when the
 * broker cannot be started. Override the address with K2_TEST_KAFKA_BROKERS to use another one.
 */
import * as fs from "node:fs"
import * as path from "node:path"
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
 * Runs one transaction per outcome on a partition, `n` records each, with one transactional
 * producer, as an exactly-once producer upstream does: the log then holds each transaction's
 * records and, after them, its commit or abort marker. The coordinator writes a marker after it
 * answers the commit or abort, so this waits for the last one: a record sent right after would
 * otherwise land before it, and every offset the tests name would move.
 */
const sendTransactions = (topic: string, partition: number, n: number, outcomes: ReadonlyArray<"commit" | "abort">) =>
  withAdmin(async (admin) => {
    const logEnd = async () => BigInt((await admin.fetchTopicOffsets(topic)).find((p) => p.partition === partition)!.high)
    const end = (await logEnd()) + BigInt(outcomes.length * (n + 1))
    const kafka = new Kafka({ brokers: [...kafkaBrokers], clientId: "k2-test-tx", logLevel: logLevel.NOTHING })
    const producer = kafka.producer({ transactionalId: `k2-test-tx-${topic}`, idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    try {
      for (const [t, outcome] of outcomes.entries()) {
        const tx = await producer.transaction()
        await tx.send({ topic, messages: Array.from({ length: n }, (_, i) => ({ partition, value: `${outcome}${t}-${i}` })) })
        await (outcome === "commit" ? tx.commit() : tx.abort())
      }
    } finally {
      await producer.disconnect()
    }
    const deadline = Date.now() + 60_000
    while ((await logEnd()) < end) {
      if (Date.now() > deadline) throw new Error(`the markers of ${topic}:${partition} were not written within 60 s`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })

/** Sends `n` records to a partition in a committed transaction: offsets n.. hold its marker. */
export const sendTransactional = (topic: string, partition: number, n: number) => sendTransactions(topic, partition, n, ["commit"])

/** Sends `n` records to a partition in a transaction that is then aborted, `times` times. */
export const sendAborted = (topic: string, partition: number, n: number, times: number) =>
  sendTransactions(topic, partition, n, Array.from({ length: times }, () => "abort" as const))

/**
 * The pid of the broker `scripts/kafka.sh` started (K2_KAFKA_HOME's pid file, as the script has
 * it): the tests that freeze it with SIGSTOP need that broker, not one K2_TEST_KAFKA_BROKERS names
 * elsewhere.
 */
export const scriptBrokerPid = () =>
  Number(fs.readFileSync(path.join(process.env.K2_KAFKA_HOME ?? path.resolve(import.meta.dirname, "../../.k2/kafka"), "kafka.pid"), "utf8").trim())
