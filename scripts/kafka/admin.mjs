// Small admin helper for scripts/kafka.sh (plain JS so it runs on any Node >= 18):
//   node admin.mjs ping <broker>     exit 0 when a metadata request succeeds
//   node admin.mjs topics <broker>   list topics with partition counts
import { createRequire } from "node:module"
const require = createRequire(new URL("../../package.json", import.meta.url))
const { Kafka, logLevel } = require("kafkajs")

const [command, broker = "127.0.0.1:9092"] = process.argv.slice(2)
const kafka = new Kafka({
  clientId: "k2-kafka-sh",
  brokers: [broker],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 1000,
  requestTimeout: 3000,
  retry: { retries: 0 }
})
const admin = kafka.admin()
try {
  await admin.connect()
  if (command === "ping") {
    const cluster = await admin.describeCluster()
    console.log(`cluster ${cluster.clusterId}, controller ${cluster.controller}, ${cluster.brokers.length} broker(s)`)
  } else if (command === "topics") {
    const { topics } = await admin.fetchTopicMetadata()
    for (const t of topics.sort((a, b) => a.name.localeCompare(b.name))) {
      console.log(`${t.name}\t${t.partitions.length} partition(s)`)
    }
  } else {
    console.error(`unknown command ${command}`)
    process.exitCode = 2
  }
} catch (e) {
  if (command !== "ping") console.error(String(e?.message ?? e))
  process.exitCode = 1
} finally {
  await admin.disconnect().catch(() => {})
}
