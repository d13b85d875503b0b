/**
 * A bare client's own consume rate: a fresh group reads `topics` from the beginning and counts
 * records (no decoding, no K2 code), timed from the first delivery to the `expected`-th, with the
 * machine's CPU over the same window. The reference the K2 layers and end-to-end ingestion are
 * compared with.
 */
import { Consumer as PConsumer } from "@platformatic/kafka"
import kafkajs from "kafkajs"
import { cpuBetween, type MachineCpu, machineTicks, type Ticks } from "./machineCpu.ts"

export type BareClient = "kafkajs" | "platformatic"

interface Mark {
  readonly at: number
  readonly ticks: Ticks
}

const mark = (): Mark => ({ at: performance.now(), ticks: machineTicks() })

/**
 * Counts records from the first delivery to the `expected`-th: their rate and the machine's CPU
 * meanwhile. The first delivery's records came before the window opened, so they are not in the
 * rate (a kafkajs batch is up to a partition's 4 MB: counted, they inflated it), as ingestion's
 * rate leaves out the rows of its first commit.
 */
const countingWindow = (expected: number) => {
  let n = 0
  let before = 0
  let start: Mark | undefined
  let end: Mark | undefined
  return {
    /** Counts `records` more; true once `expected` have come (from then on it counts nothing). */
    add: (records: number): boolean => {
      if (end !== undefined) return true
      if (start === undefined) {
        start = mark()
        before = records
      }
      n += records
      if (n >= expected) end = mark()
      return end !== undefined
    },
    result: () => ({
      rate: Math.round((n - before) / ((end!.at - start!.at) / 1000)),
      cpu: cpuBetween(start!.ticks, end!.ticks, n - before)
    })
  }
}

export const bareConsumeRate = async (
  client: BareClient,
  broker: string,
  topics: ReadonlyArray<string>,
  expected: number
): Promise<{ readonly rate: number; readonly cpu: MachineCpu }> => {
  const group = `k2bench-bare-${client}-${Date.now().toString(36)}`
  if (client === "kafkajs") {
    const kafka = new kafkajs.Kafka({ clientId: "k2-bench", brokers: [broker], logLevel: kafkajs.logLevel.NOTHING })
    const consumer = kafka.consumer({ groupId: group, maxBytesPerPartition: 4 * 1024 * 1024, maxBytes: 64 * 1024 * 1024 })
    await consumer.connect()
    try {
      await consumer.subscribe({ topics: [...topics], fromBeginning: true })
      const counted = countingWindow(expected)
      await new Promise<void>((resolve) => {
        void consumer.run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            if (counted.add(batch.messages.length)) resolve()
          }
        })
      })
      return counted.result()
    } finally {
      await consumer.disconnect()
    }
  }
  const consumer = new PConsumer({ groupId: group, clientId: "k2-bench", bootstrapBrokers: [broker], maxBytes: 64 * 1024 * 1024 })
  try {
    const stream = await consumer.consume({ topics: [...topics], mode: "earliest", autocommit: false, maxWaitTime: 250 })
    const counted = countingWindow(expected)
    await new Promise<void>((resolve, reject) => {
      stream.on("data", () => {
        if (counted.add(1)) resolve()
      })
      stream.on("error", reject)
    })
    const measured = counted.result()
    await stream.close()
    return measured
  } finally {
    await consumer.close(true)
  }
}
