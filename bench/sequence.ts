/**
 * Sequence tracker throughput: verdicts per second on 10,000 streams with the tracker at
 * capacity (10,000), one core. Run alone with `npx node bench/sequence.ts`; `benchSequenceEffect`
 * is what `npm run bench` calls.
 *
 * Input: 2,000,000 trades spread over 10,000 ASX symbols in random order, sequences as
 * bigints as decoded, mostly in order with 0.1% gaps, 0.1% duplicates and 0.1% late
 * fills, in batches of 10,000 rows. Each timed run starts from a tracker that already
 * holds all 10,000 streams; the best of five runs is reported, plus a churn run with
 * 20,000 streams through the same 10,000-stream capacity (every new stream evicts).
 */
import { Effect } from "effect"
import { type SequenceInput, SequenceTrackerState } from "../src/domain/sequence/tracker.ts"
import { make } from "../src/layers/sequence/tracker.ts"

const STREAMS = 10_000
const MESSAGES = 2_000_000
const BATCH = 10_000
const T0 = Date.UTC(2024, 2, 4, 0) * 1000

/** A deterministic PRNG (mulberry32), so every run sees the same input. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const makeInput = (streams: number, messages: number) => {
  const rand = random(42)
  const symbols = Array.from({ length: streams }, (_, i) => `S${i.toString(36).toUpperCase()}`)
  const next = new Array<number>(streams).fill(1)
  const late: Array<Array<number>> = Array.from({ length: streams }, () => [])
  const rows: Array<SequenceInput> = []
  // Each stream's first message, so a warmed tracker holds every stream.
  const warm: Array<SequenceInput> = []
  for (let s = 0; s < streams; s++) {
    warm.push({ exchange: "ASX", symbol: symbols[s]!, source_sequence: 0n, exchange_timestamp: T0, message_id: "w" })
  }
  for (let i = 0; i < messages; i++) {
    const s = Math.floor(rand() * streams)
    const r = rand()
    let seq: number
    if (r < 0.001) {
      late[s]!.push(next[s]!) // withheld: a gap now, filled later
      seq = next[s]! + 1
      next[s]! += 2
    } else if (r < 0.002 && next[s]! > 1) {
      seq = next[s]! - 1 // duplicate
    } else if (r < 0.003 && late[s]!.length > 0) {
      seq = late[s]!.pop()! // late fill
    } else {
      seq = next[s]!++
    }
    rows.push({
      exchange: "ASX",
      symbol: symbols[s]!,
      source_sequence: BigInt(seq),
      exchange_timestamp: T0 + 1_000_000 + i * 10,
      message_id: "m",
      kafka_topic: "trades",
      kafka_partition: 0,
      kafka_offset: BigInt(i)
    })
  }
  const batches: Array<Array<SequenceInput>> = []
  for (let i = 0; i < rows.length; i += BATCH) batches.push(rows.slice(i, i + BATCH))
  return { warm, batches }
}

const timeRun = (
  warm: ReadonlyArray<SequenceInput>,
  batches: ReadonlyArray<ReadonlyArray<SequenceInput>>,
  capacity: number
) => {
  const tracker = new SequenceTrackerState({ capacity })
  tracker.observe(warm, 0)
  let events = 0
  const start = process.hrtime.bigint()
  for (const batch of batches) events += tracker.observe(batch, 0).events.length
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  return { seconds, events, tracker }
}

async function benchSequence(): Promise<Record<string, number | string>> {
  const { warm, batches } = makeInput(STREAMS, MESSAGES)
  const runs: Array<number> = []
  let last: ReturnType<typeof timeRun> | undefined
  for (let run = 0; run < 5; run++) {
    last = timeRun(warm, batches, STREAMS)
    runs.push(last.seconds)
  }
  runs.sort((a, b) => a - b)
  const best = runs[0]!
  const median = runs[2]!
  const stats = last!.tracker.stats()

  // Through the service (one Effect per batch), the way ingestion calls it.
  const service = Effect.runSync(make({ capacity: STREAMS }))
  Effect.runSync(service.observe(warm))
  const serviceStart = process.hrtime.bigint()
  for (const batch of batches) Effect.runSync(service.observe(batch))
  const serviceSeconds = Number(process.hrtime.bigint() - serviceStart) / 1e9

  const churn = makeInput(2 * STREAMS, MESSAGES)
  const churnRun = timeRun([], churn.batches, STREAMS)

  const checkpointStart = process.hrtime.bigint()
  const checkpoint = last!.tracker.checkpoint()
  const checkpointMs = Number(process.hrtime.bigint() - checkpointStart) / 1e6
  const restoreStart = process.hrtime.bigint()
  new SequenceTrackerState({ capacity: STREAMS }).restore(checkpoint)
  const restoreMs = Number(process.hrtime.bigint() - restoreStart) / 1e6

  return {
    "streams / capacity": `${STREAMS} / ${STREAMS}`,
    "verdicts/s, 10k streams at capacity (best of 5)": Math.round(MESSAGES / best),
    "verdicts/s, 10k streams at capacity (median of 5)": Math.round(MESSAGES / median),
    "verdicts/s, through the service (Effect per 10k batch)": Math.round(MESSAGES / serviceSeconds),
    "verdicts/s, 20k streams churning through 10k": Math.round(MESSAGES / churnRun.seconds),
    "evictions in the churn run": churnRun.tracker.stats().evictions,
    "events per 2M messages": last!.events,
    "verdicts by kind": JSON.stringify(stats.verdicts),
    "checkpoint of 10k streams, bytes": checkpoint.length,
    "checkpoint of 10k streams, ms": Math.round(checkpointMs * 10) / 10,
    "restore of 10k streams, ms": Math.round(restoreMs * 10) / 10
  }
}

/** For bench/run.ts: `sequence: benchSequenceEffect`. */
export const benchSequenceEffect = () => Effect.promise(benchSequence)

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await benchSequence()
  for (const [name, value] of Object.entries(result)) console.log(`${name}: ${value}`)
}
