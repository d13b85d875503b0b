/**
 * A fetched partition's records as the platformatic layer makes them, two ways: platformatic's own
 * parse of the batches then K2's conversion (`recordsOfParsedBatches`, Fetch before v12), and K2's
 * reading of the bytes (`readRecordBatches`, ADR-86). A 256 KB partition of trade-like records
 * (20 symbols, two headers as K2's producers send, ~180-byte values, 500 records a batch), each way
 * in turn for ROUNDS rounds: CPU µs a record (over 20 parses) and bytes allocated a record (the
 * heap's growth over one parse from a collected heap, no scavenge in between: a large semi-space).
 *
 *   node --expose-gc --max-semi-space-size=256 --min-semi-space-size=256 bench/recordBatches.ts [ROUNDS]
 */
import { createRecordsBatch, IS_CONTROL, IS_TRANSACTIONAL, Reader, readRecordsBatches } from "@platformatic/kafka"
import { getHeapStatistics } from "node:v8"
import { recordsOfParsedBatches } from "../src/layers/kafka/platformatic.ts"
import { readRecordBatches } from "../src/layers/kafka/recordBatches.ts"

const rounds = Number(process.argv[2] ?? 20)
const REPEAT = 20
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined)

const batches: Array<Buffer> = []
let offset = 1_000_000n
let size = 0
for (let b = 0; size < 256 * 1024; b++) {
  const messages = Array.from({ length: 500 }, (_, i) => ({
    topic: "t",
    key: Buffer.from(`SYM${(b * 7 + i) % 20}`),
    value: Buffer.from(Array.from({ length: 180 }, (_, j) => (i * 31 + j) & 0xff)),
    headers: new Map([[Buffer.from("k2-schema-id"), Buffer.from("3")], [Buffer.from("k2-correlation-id"), Buffer.from(`c-${b}`)]]),
    timestamp: 1_700_000_000_000n + BigInt(i)
  }))
  const buf = Buffer.from(createRecordsBatch(messages as never).buffer)
  buf.writeBigInt64BE(offset, 0)
  offset += 500n
  size += buf.length
  batches.push(buf)
}
const partition = Buffer.concat(batches)
const count = batches.length * 500

const ways = {
  platformatic: () => recordsOfParsedBatches(readRecordsBatches(Reader.from(partition)), 0n, null, IS_CONTROL, IS_TRANSACTIONAL).records.length,
  k2: () => readRecordBatches(partition, 0n, null, () => partition).records.length
}

const result: Record<string, { us: Array<number>; bytes: Array<number> }> = {}
for (let round = 0; round < rounds; round++) {
  for (const [name, way] of Object.entries(ways)) {
    gc()
    const heap = getHeapStatistics().used_heap_size
    const n = way()
    const bytes = getHeapStatistics().used_heap_size - heap
    if (n !== count) throw new Error(`${name}: ${n} records, not ${count}`)
    // CPU over REPEAT parses, the garbage collected as it comes.
    const cpu = process.cpuUsage()
    for (let i = 0; i < REPEAT; i++) way()
    const used = process.cpuUsage(cpu)
    const r = (result[name] ??= { us: [], bytes: [] })
    r.us.push((used.user + used.system) / (n * REPEAT))
    r.bytes.push(bytes / n)
  }
}
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const [name, r] of Object.entries(result)) {
  console.log(JSON.stringify({ way: name, records: count, partitionBytes: partition.length, usPerRecord: +median(r.us).toFixed(3), bytesPerRecord: Math.round(median(r.bytes)) }))
}
