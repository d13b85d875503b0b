/** Streams written as checkpoint entries, one walk of the LRU list for several owners' checkpoints. */
import type { Seq, StreamState } from "./machine.ts"

const encodeSeq = (x: Seq): number | string => typeof x === "bigint" ? x.toString() : x

/** A stream as a checkpoint holds it; `seenBefore`: when the stream before it in that checkpoint was seen. */
const checkpointEntry = (s: StreamState, seenBefore: number): unknown => [
  s.exchange,
  s.symbol,
  encodeSeq(s.last),
  s.lastTs,
  encodeSeq(s.floor),
  s.prevTs === -Infinity ? null : s.prevTs,
  s.gaps.map(encodeSeq),
  s.seenAt - seenBefore,
  ...(s.crossSeq !== null
    ? [
      s.prevTs === -Infinity || Number.isNaN(s.startTs) ? null : s.startTs,
      encodeSeq(s.crossSeq),
      s.crossFrom,
      s.crossTs,
      ...(s.crossFills.length > 0 ? [s.crossFills.map(encodeSeq), ...(Number.isNaN(s.crossFillTs) ? [] : [s.crossFillTs])] : [])
    ]
    : s.prevTs === -Infinity || Number.isNaN(s.startTs)
    ? []
    : [s.startTs])
]

/**
 * The checkpoints of the streams from `oldest` on (the LRU list, newer by newer), one per key
 * of `keys`, each holding the streams `owners` names that key for.
 */
export const checkpointsFrom = <K>(
  oldest: StreamState | null,
  keys: Iterable<K>,
  owners: (exchange: string, symbol: string) => ReadonlyArray<K> | undefined
): Map<K, string> => {
  const acc = new Map<K, { readonly streams: Array<unknown>; seenBefore: number }>()
  for (const key of keys) acc.set(key, { streams: [], seenBefore: 0 })
  for (let s = oldest; s !== null; s = s.newer) {
    for (const key of owners(s.exchange, s.symbol) ?? []) {
      const a = acc.get(key)
      if (a === undefined) continue
      a.streams.push(checkpointEntry(s, a.seenBefore))
      a.seenBefore = s.seenAt
    }
  }
  return new Map([...acc].map(([key, a]) => [key, JSON.stringify({ v: 1, streams: a.streams })]))
}
