/**
 * A fetched partition's records as the platformatic layer makes them (`k2`: K2's reading of the
 * bytes, `readRecordBatches`, ADR-86, its CRC check included since ADR-88), beside `platformatic`:
 * platformatic's own parse of the same batches alone (its objects, not yet KafkaRecords; the layer
 * converted them until ADR-88), and `crc`: the CRC-32C of every batch alone (the check's part of
 * `k2`). A 256 KB partition of trade-like records (20 symbols, two headers as K2's producers send,
 * ~180-byte values, 500 records a batch), each way in turn for ROUNDS rounds: CPU µs a record (over
 * 20 parses) and bytes allocated a record (the heap's growth over one parse from a collected heap,
 * no scavenge in between: a large semi-space).
 *
 *   node --expose-gc --max-semi-space-size=256 --min-semi-space-size=256 bench/recordBatches.ts [ROUNDS]
 */
import { createRecordsBatch, Reader, readRecordsBatches } from "@platformatic/kafka"
import { getHeapStatistics } from "node:v8"
import { crc32c } from "../src/layers/kafka/crc32c.ts"
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

/** Where each batch's CRC'd bytes start and end in `partition`. */
const spans: Array<readonly [number, number]> = []
for (let at = 0; at < partition.length; at += 12 + partition.readInt32BE(at + 8)) spans.push([at + 21, at + 12 + partition.readInt32BE(at + 8)])

const ways = {
  platformatic: () => readRecordsBatches(Reader.from(partition)).reduce((n, b) => n + b.records.length, 0),
  k2: () => readRecordBatches(partition, 0n, null, () => partition, "t", 0).records.length,
  crc: () => {
    let ok = 0
    for (const [from, end] of spans) if (crc32c(partition, from, end) === partition.readUInt32BE(from - 4)) ok++
    return ok * 500
  }
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
