/** Seeded random message streams for the differential tests of the sequence tracker. */
import type { SequenceInput } from "../../../src/domain/sequence/tracker.ts"

/** mulberry32: a small seeded generator, so a failure replays from its seed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const MINUTE = 60_000_000
export const IDLE = 30 * MINUTE
const MAX_LONG = 2n ** 63n - 1n
export const ZONES = { ASX: "Australia/Sydney", NYSE: "America/New_York", NZX: "Pacific/Auckland" }
const EXCHANGES = ["ASX", "NYSE", "NZX", "XTST"]
/** Instants shortly before local midnights, some the night of a DST change (UTC micros). */
const BASES = [
  Date.UTC(2024, 3, 6, 12, 40), // 23:40 Sydney, DST ends at 03:00
  Date.UTC(2024, 9, 5, 13, 40), // 23:40 Sydney, DST starts at 02:00
  Date.UTC(2024, 2, 10, 4, 40), // 23:40 New York before DST starts
  Date.UTC(2024, 8, 28, 11, 20), // 23:20 Auckland before DST starts
  Date.UTC(2024, 0, 2, 23, 40) // 23:40 UTC
].map((ms) => ms * 1000)

interface Gen {
  readonly exchange: string
  readonly symbol: string
  readonly partition: number
  head: bigint
  ts: number
  /** Sequences skipped in the current session (late fills), and those sent. */
  skipped: Array<bigint>
  sent: Array<readonly [bigint, number]>
  /** Messages of earlier sessions (stragglers). */
  old: Array<readonly [bigint, number]>
}

/**
 * A random interleaving of `streams` streams, `n` messages, as batches; stream i is on
 * exchange `exchanges[i % exchanges.length]` and partition i % `partitions`.
 */
export const scenario = (
  seed: number,
  streams: number,
  n: number,
  { exchanges = EXCHANGES, partitions = 3 }: { readonly exchanges?: ReadonlyArray<string>; readonly partitions?: number } = {}
): Array<Array<SequenceInput>> => {
  const rnd = random(seed)
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1))
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(rnd() * xs.length)]!
  const starts = [1n, 1n, 1000n, 2n ** 53n - 3n, MAX_LONG - 6n]
  const gens: Array<Gen> = Array.from({ length: streams }, (_, i) => ({
    exchange: exchanges[i % exchanges.length]!,
    symbol: `S${i}`,
    partition: i % partitions,
    head: pick(starts) - 1n,
    ts: pick(BASES) + int(0, 20) * MINUTE,
    skipped: [],
    sent: [],
    old: []
  }))
  const batches: Array<Array<SequenceInput>> = []
  let batch: Array<SequenceInput> = []
  let offset = 0n
  for (let m = 0; m < n; m++) {
    const g = pick(gens)
    let seq: bigint | null
    let ts = g.ts
    const r = rnd()
    const reset = () => {
      g.old.push(...g.sent)
      g.sent = []
      g.skipped = []
      g.head = BigInt(int(0, 3))
      // Idle, or a short step that may or may not cross a local midnight.
      g.ts += rnd() < 0.5 ? IDLE + int(0, 120) * MINUTE : int(1, 29) * MINUTE
      g.head++
      return g.head
    }
    if (r < 0.55) {
      if (g.head >= MAX_LONG) seq = reset()
      else {
        g.ts += int(0, 12) * MINUTE
        seq = ++g.head
      }
    } else if (r < 0.65) {
      const skip = rnd() < 0.9 ? BigInt(int(1, 4)) : 100_000n
      if (g.head + skip + 1n > MAX_LONG) seq = reset()
      else {
        for (let k = 1n; k <= skip && k <= 4n; k++) g.skipped.push(g.head + k)
        g.ts += int(0, 5) * MINUTE
        g.head += skip + 1n
        seq = g.head
      }
    } else if (r < 0.73 && g.skipped.length > 0) {
      seq = g.skipped.splice(int(0, g.skipped.length - 1), 1)[0]!
      ts = g.ts - int(0, 2) * MINUTE
    } else if (r < 0.81 && g.sent.length > 0) {
      const [s, t] = pick(g.sent)
      seq = s
      ts = rnd() < 0.5 ? t : g.ts
    } else if (r < 0.86) {
      seq = reset()
      ts = g.ts
    } else if (r < 0.91 && g.old.length > 0) {
      const [s, t] = pick(g.old)
      seq = s
      ts = t
    } else if (r < 0.94) {
      seq = null
    } else {
      // Backwards inside the session, a little later in exchange time: a duplicate or a fill.
      // (Sequences are longs that are never negative: ingestion dead-letters those.)
      seq = g.head - BigInt(int(0, 3))
      if (seq < 0n) seq = 0n
      ts = g.ts + int(0, 3) * MINUTE
    }
    if (seq !== null && ts === g.ts && seq === g.head) g.sent.push([seq, ts])
    batch.push({
      exchange: g.exchange,
      symbol: g.symbol,
      source_sequence: seq,
      exchange_timestamp: ts,
      message_id: `m${m}`,
      kafka_topic: "trades",
      kafka_partition: g.partition,
      kafka_offset: offset++
    })
    if (rnd() < 0.05) {
      batches.push(batch)
      batch = []
    }
  }
  batches.push(batch)
  return batches
}

