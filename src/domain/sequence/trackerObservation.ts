/** What the tracker judges a batch of (a message as ingestion has it) and what it says of the batch. */
import type { SequenceEvent } from "../reference.ts"
import type { SequenceMessage } from "./machine.ts"

/** A message as ingestion has it: a TradeRow or QuoteRow fits as is. */
export interface SequenceInput extends SequenceMessage {
  readonly exchange: string
  readonly symbol: string
  readonly kafka_topic?: string | null | undefined
  readonly kafka_partition?: number | null | undefined
  readonly kafka_offset?: bigint | null | undefined
}

export interface Observation {
  /** Indices, ascending, of the input rows judged DUPLICATE: they are not written. */
  readonly duplicates: ReadonlyArray<number>
  /** One sequence_events row per verdict other than OK, in input order. */
  readonly events: ReadonlyArray<SequenceEvent>
}

/** Calls `f` with each row that is written (all but the duplicates) and its index among `rows`. */
export const forEachKept = <R>(rows: ReadonlyArray<R>, observation: Observation, f: (row: R, index: number) => void): void => {
  let d = 0
  for (let i = 0; i < rows.length; i++) {
    if (observation.duplicates[d] === i) d++
    else f(rows[i]!, i)
  }
}
