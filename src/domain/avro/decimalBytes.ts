/** Decimal bytes <-> unscaled bigint (two's complement, big-endian, minimal length), and decimal(18, 8) values of them. */
import { BigDecimal } from "effect"
import { SCALE } from "../decimal.ts"
import { type Unscaled, unscaledAt } from "./reader.ts"

export const unscaledFromBytes = (b: Uint8Array): bigint => unscaledAt(b, 0, b.length)

/** Distinct decimal values a codec keeps for sharing; past it the cache starts over. */
const DECIMAL_CACHE_ENTRIES = 16_384

/** A decimal(18, 8) from its unscaled value, trailing zeros stripped (a normalized BigDecimal). */
const decimalOf = (u: bigint): BigDecimal.BigDecimal => {
  if (u === 0n) return BigDecimal.make(0n, 0)
  const asNumber = Number(u)
  if (Number.isSafeInteger(asNumber)) {
    let v = asNumber
    let scale = SCALE
    while (scale > 0 && v % 10 === 0) {
      v /= 10
      scale--
    }
    return BigDecimal.make(BigInt(v), scale)
  }
  let v = u
  let scale = SCALE
  while (scale > 0 && v % 10n === 0n) {
    v /= 10n
    scale--
  }
  return BigDecimal.make(v, scale)
}

/**
 * A codec's decimal of an unscaled value (each codec makes its own cache). Prices and sizes repeat
 * (tick grids, round lots): rows ingestion buffers share one immutable BigDecimal per value
 * instead of holding one each, which keeps their live heap small. Keyed by number within 2^53 (one
 * key a value, whichever reader read it): a number hashes cheaper than a bigint, and a value read
 * as one needs no bigint at all.
 */
export const decimalCache = (): ((u: Unscaled) => BigDecimal.BigDecimal) => {
  const decimals = new Map<Unscaled, BigDecimal.BigDecimal>()
  return (u: Unscaled): BigDecimal.BigDecimal => {
    const key = typeof u === "number" || !Number.isSafeInteger(Number(u)) ? u : Number(u)
    let d = decimals.get(key)
    if (d === undefined) {
      if (decimals.size >= DECIMAL_CACHE_ENTRIES) decimals.clear()
      d = decimalOf(BigInt(u))
      decimals.set(key, d)
    }
    return d
  }
}
