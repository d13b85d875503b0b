/**
 * A bare client's own consume rate: a fresh group reads `topics` from the beginning and counts
 * records (no decoding, no K2 code), timed from the first record to the `expected`-th. The
 * reference the K2 layers and end-to-end ingestion are compared with.
 */
import { Consumer as PConsumer } from "@platformatic/kafka"
import kafkajs from "kafkajs"

export type BareClient = "kafkajs" | "platformatic"

const rate = (n: number, ms: number) => Math.round(n / (ms / 1000))

export const bareConsumeRate = async (client: BareClient, broker: string, topics: ReadonlyArray<string>, expected: number): Promise<number> => {
  const group = `k2bench-bare-${client}-${Date.now().toString(36)}`
  if (client === "kafkajs") {
    const kafka = new kafkajs.Kafka({ clientId: "k2-bench", brokers: [broker], logLevel: kafkajs.logLevel.NOTHING })
    const consumer = kafka.consumer({ groupId: group, maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 })
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: [...topics], fromBeginning: true })
      let n = 0
      let start = 0
      await new Promise<void>((resolve) => {
        void consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            if (start === 0) start = performance.now()
            n += batch.messages.length
            if (n >= expected) resolve()
          }
        })
      })
      return rate(n, performance.now() - start)
    } finally {
      await consumer.disconnect()
    }
  }
  const consumer = new PConsumer({ groupId: group, clientId: "k2-bench", bootstrapBrokers: [broker], maxBytes: 64 * 1024 * 1024 })
  try {
    const stream = await consumer.consume({ topics: [...topics], mode: "earliest", autocommit: false, maxWaitTime: 250 })
    let n = 0
    let start = 0
    await new Promise<void>((resolve, reject) => {
      stream.on("data", () => {
        if (start === 0) start = performance.now()
        if (++n === expected) resolve()
      })
      stream.on("error", reject)
    })
    const measured = rate(n, performance.now() - start)
    await stream.close()
    return measured
  } finally {
    await consumer.close(true)
  }
}
