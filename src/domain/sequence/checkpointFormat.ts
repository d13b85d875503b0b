/**
 * The checkpoint's JSON (docs/sequence-integrity.md): its schema, decoding, and the streams a
 * checkpoint holds read without restoring it.
 */
import { Result, Schema } from "effect"
import type { EpochMicros } from "../time.ts"

/** Selects streams by key, for partial checkpoints and forget. */
export type StreamFilter = (exchange: string, symbol: string) => boolean

// Checkpoint: {"v":1,"streams":[[exchange, symbol, last, lastTs, floor, prevTs | null, [lo, hi, ...], seenAt, startTs?,
// crossSeq?, crossFrom?, crossTs?, crossFills?, crossFillTs?], ...]}
// least recently seen first. Sequences are JSON numbers, or decimal strings in a stream that needs bigints.
// seenAt is when the tracker last saw the stream, less the seenAt of the stream before (a few digits: the
// list is in seenAt order); older checkpoints have none. startTs, the exchange time of the RESET that began
// the session, only follows a prevTs (older checkpoints lack it: stragglers are then told by prevTs alone);
// null in its place when crossSeq, crossFrom and crossTs follow (a session begun by a forward step), then
// crossFills, that session's late fills below crossSeq as ranges, when it has any, then the earliest fill's exchange
// time (older checkpoints lack it: a restart then begins the session at the step or the RESET).
const SeqJson = Schema.Union([Schema.Int, Schema.String.check(Schema.isPattern(/^-?\d+$/))])
const StreamJson = Schema.Tuple([
  Schema.String,
  Schema.String,
  SeqJson,
  Schema.Int,
  SeqJson,
  Schema.NullOr(Schema.Int),
  Schema.Array(SeqJson),
  Schema.optionalKey(Schema.Int),
  Schema.optionalKey(Schema.NullOr(Schema.Int)),
  Schema.optionalKey(SeqJson),
  Schema.optionalKey(Schema.Int),
  Schema.optionalKey(Schema.Int),
  Schema.optionalKey(Schema.Array(SeqJson)),
  Schema.optionalKey(Schema.Int)
])
const CheckpointJson = Schema.fromJsonString(Schema.Struct({ v: Schema.Literal(1), streams: Schema.Array(StreamJson) }))
export const decodeCheckpoint = Schema.decodeUnknownResult(CheckpointJson)

/** A stream as a decoded checkpoint holds it. */
export type CheckpointStream = typeof StreamJson.Type

/**
 * The streams a checkpoint holds, as (exchange, symbol, last sequence, exchange time of the
 * head, when the tracker last judged it: undefined in a checkpoint older than that), without
 * restoring it; [] when it is not one.
 */
export const checkpointStreams = (
  json: string
): ReadonlyArray<readonly [string, string, bigint, EpochMicros, number | undefined]> => {
  const decoded = decodeCheckpoint(json)
  if (Result.isFailure(decoded)) return []
  let seenAt = 0
  return decoded.success.streams.map((s) => {
    seenAt = s[7] === undefined ? Number.NaN : seenAt + s[7]
    return [s[0], s[1], BigInt(s[2]), s[3], Number.isNaN(seenAt) ? undefined : seenAt] as const
  })
}
