/** Quote bars from DuckDB's answer chunks: mid and spread over two-sided quotes, exact (ADR-40). */
import { divide, type Fixed, OUTPUT_SCALE } from "../../domain/query/exact.ts"
import type { QuoteBar } from "../../services/QueryEngine.ts"
import type { Chunk } from "../duckdb/results.ts"
import {
  bigFixedText,
  decimal128FixedAt,
  decimal128SafeAt,
  decimal128TextAt,
  decimals128,
  type Decimals128,
  doubles,
  fixedText,
  isNull,
  textAt,
  texts,
  uniformText
} from "../duckdb/vectors.ts"
import { nonNull } from "./barRows.ts"

const TWO: Fixed = { unscaled: 2n, scale: 0 }

/** (bid + ask) / 2 half-even at 8 places; through numbers when the sum fits them (exact: halving is). */
const halfAt = (d: Decimals128, r: number): string => {
  const twice = d.scale === OUTPUT_SCALE ? decimal128SafeAt(d, r) : Number.NaN
  if (twice !== twice) return bigFixedText(divide(decimal128FixedAt(d, r), TWO))
  const floor = Math.floor(twice / 2)
  // An odd sum is a tie: to the even neighbour.
  return fixedText(twice - 2 * floor === 1 && floor % 2 !== 0 ? floor + 1 : floor)
}

export const quoteBarsOf = (chunk: Chunk, out: Array<QuoteBar>) => {
  const rows = chunk.rowCount
  const symbols = nonNull(texts(chunk.column("symbol")), rows, "symbol")
  const symbol = uniformText(symbols, rows)
  const exchanges = nonNull(texts(chunk.column("exchange")), rows, "exchange")
  const exchange = uniformText(exchanges, rows)
  const bucket = doubles(chunk.column("bucket"))
  const n = doubles(chunk.column("n"))
  const twoSided = doubles(chunk.column("n_two_sided"))
  // NULL exactly in the buckets without a two-sided quote.
  const decimal = (name: string) => {
    const c = decimals128(chunk.column(name))
    for (let r = 0; r < rows; r++) if (isNull(c.valid, r) !== (twoSided[r] === 0)) throw new Error(`query: ${name} disagrees with the two-sided count`)
    return c
  }
  const midOpen = decimal("mid_open"), midHigh = decimal("mid_high"), midLow = decimal("mid_low"), midClose = decimal("mid_close")
  const spreadMin = decimal("spread_min"), spreadMax = decimal("spread_max"), spreadSum = decimal("spread_sum"), spreadClose = decimal("spread_close")
  for (let r = 0; r < rows; r++) {
    const base = { symbol: symbol ?? textAt(symbols, r), exchange: exchange ?? textAt(exchanges, r), bucket: bucket[r]!, quoteCount: n[r]! }
    const m = twoSided[r]!
    out.push(m === 0 ? { ...base, ...NO_MID_OR_SPREAD } : {
      ...base,
      midOpen: halfAt(midOpen, r),
      midHigh: halfAt(midHigh, r),
      midLow: halfAt(midLow, r),
      midClose: halfAt(midClose, r),
      spreadMin: decimal128TextAt(spreadMin, r),
      spreadMax: decimal128TextAt(spreadMax, r),
      spreadMean: bigFixedText(divide(decimal128FixedAt(spreadSum, r), { unscaled: BigInt(m), scale: 0 })),
      spreadClose: decimal128TextAt(spreadClose, r)
    })
  }
}

/** A bucket of one-sided quotes only. */
const NO_MID_OR_SPREAD = {
  midOpen: null, midHigh: null, midLow: null, midClose: null, spreadMin: null, spreadMax: null, spreadMean: null, spreadClose: null
} as const
