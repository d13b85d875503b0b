/** The simulator's running state per symbol (price, last quote, ids) and per (symbol, data type) stream (sequence numbers, held event). */
import type { DataType, FeedEvent } from "./events.ts"

export interface SymbolState {
  readonly symbol: string
  readonly index: number
  mid: number
  lastT: number
  quoted: boolean
  bid: number
  ask: number
  n: number
  poisonN: number
  readonly trades: KeyState
  readonly quotes: KeyState
}

export interface KeyState {
  readonly dataType: DataType
  nextSeq: number
  lastEmitted: number
  held: FeedEvent | undefined
  heldSeq: number
  /** The message_id of the event sent after the held one (heldSeq + 1), once it has gone. */
  afterHeld: string | undefined
  releaseAfter: number
  resetPending: boolean
}

export const keyState = (dataType: DataType): KeyState => ({
  dataType, nextSeq: 1, lastEmitted: 0, held: undefined, heldSeq: 0, afterHeld: undefined, releaseAfter: 0, resetPending: false
})
