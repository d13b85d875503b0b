/**
 * The sequence state machine as a pure function, for tests: one message's verdict (with expected,
 * received and gap size, as the tracker reports them) and the stream's next state, its input left alone.
 */
import type { ZoneCalendar } from "../../src/domain/sequence/calendar.ts"
import {
  GAP,
  GAP_FILLED,
  MAX_LONG,
  newStream,
  openMissing,
  type Seq,
  type SequenceMachine,
  type SequenceMessage,
  StreamState,
  type VerdictCode,
  type VerdictName,
  verdictNames
} from "../../src/domain/sequence/machine.ts"

export interface Verdict {
  readonly kind: VerdictName
  /** The sequence the stream expected next (last + 1); null for OK on a new stream, without a sequence, or after 2^63 - 1. */
  readonly expected: bigint | null
  readonly received: bigint | null
  /** GAP: missing count; GAP_FILLED: missing sequences still open on the stream; otherwise null. */
  readonly gapSize: bigint | null
}

const cloneStream = (s: StreamState): StreamState => {
  const c = new StreamState(s.exchange, s.symbol, s.calendar, s.last, s.lastTs)
  c.big = s.big
  c.floor = s.floor
  c.prevTs = s.prevTs
  c.startTs = s.startTs
  c.crossSeq = s.crossSeq
  c.crossFrom = s.crossFrom
  c.crossTs = s.crossTs
  c.dayEnd = s.dayEnd
  c.gaps = s.gaps.slice()
  c.crossFills = s.crossFills.slice()
  c.crossFillTs = s.crossFillTs
  return c
}

/** The verdict of `code` for a message of sequence `seq` on a stream whose head was `last` before it. */
const verdictOf = (code: VerdictCode, seq: bigint, last: Seq, after: StreamState): Verdict => {
  const expected = BigInt(last) + 1n
  return {
    kind: verdictNames[code],
    expected: expected > MAX_LONG ? null : expected,
    received: seq,
    gapSize: code === GAP ? seq - expected : code === GAP_FILLED ? openMissing(after) : null
  }
}

/**
 * The verdict for `message` and the stream's next state (`state` is not modified). `undefined`
 * is a stream not seen yet.
 */
export const transition = (
  machine: SequenceMachine,
  calendar: ZoneCalendar,
  exchange: string,
  symbol: string,
  state: StreamState | undefined,
  message: SequenceMessage
): { readonly verdict: Verdict; readonly state: StreamState | undefined } => {
  const seq = message.source_sequence
  if (seq === null) return { verdict: { kind: "OK", expected: null, received: null, gapSize: null }, state }
  if (state === undefined) {
    return {
      verdict: { kind: "OK", expected: null, received: seq, gapSize: null },
      state: newStream(exchange, symbol, calendar, seq, message.exchange_timestamp)
    }
  }
  const next = cloneStream(state)
  const code = machine.step(next, seq, message.exchange_timestamp)
  return { verdict: verdictOf(code, seq, state.last, next), state: next }
}
