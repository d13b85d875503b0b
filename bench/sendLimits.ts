/**
 * Process CPU per record of a sink's size check on sends that fit (ADR-73, ADR-78): `produce`'s
 * sends of 1,000 records (~200 B each, trades and quotes interleaved), `splitUnder` alone against
 * the send's limit looked up first (`MessageLimits.known`, both topics known). Three rounds each.
 *
 *   node --disable-warning=ExperimentalWarning bench/sendLimits.ts
 */
import { Effect } from "effect"
import { splitUnder } from "../src/layers/kafka/batchBytes.ts"
import { MessageLimits } from "../src/layers/kafka/messageLimits.ts"

const topics = ["market.equities.trades.asx", "market.equities.quotes.asx"]
const headers = { "k2-schema-id": "1", "k2-correlation-id": "run-1", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }
const records = Array.from({ length: 1000 }, (_, i) => ({ topic: topics[i % 3 === 0 ? 1 : 0]!, key: `SYM${i % 50}`, value: new Uint8Array(170), headers }))
const limits = new MessageLimits({ topics: () => Effect.die("not read"), broker: () => Effect.die("not read") })
limits.learn(new Map(topics.map((t) => [t, 1_048_588])))

const rounds = 20_000
const cpuPerRecord = (f: () => unknown) => {
  for (let i = 0; i < 2_000; i++) f()
  const start = process.cpuUsage()
  for (let i = 0; i < rounds; i++) f()
  const used = process.cpuUsage(start)
  return ((used.user + used.system) * 1000) / (rounds * records.length)
}
for (let round = 0; round < 3; round++) {
  const alone = cpuPerRecord(() => splitUnder(records))
  const looked = cpuPerRecord(() => splitUnder(records, limits.known(records)))
  console.log(`splitUnder alone ${alone.toFixed(1)} ns a record; with the send's limit looked up ${looked.toFixed(1)} ns`)
}
