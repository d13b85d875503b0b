/**
 * Exact decimals for prices and sizes: Iceberg decimal(18, 8), never a JS float.
 * In memory a value is an Effect BigDecimal; on the wire a plain decimal string;
 * in column buffers and Parquet the unscaled integer at scale 8.
 */
import { BigDecimal, Schema, SchemaGetter } from "effect"

export const SCALE = 8
const PRECISION = 18
const LIMIT = 10n ** BigInt(PRECISION)

const POW10 = Array.from({ length: 40 }, (_, i) => 10n ** BigInt(i))

/** The unscaled value at scale 8, or undefined when it would need rounding or more than 18 digits. */
export const toUnscaled = (d: BigDecimal.BigDecimal): bigint | undefined => {
  let unscaled: bigint
  if (d.scale <= SCALE) {
    // A negative scale (e.g. 4E+2) is an integer times a power of ten.
    unscaled = d.value * (POW10[SCALE - d.scale] ?? 10n ** BigInt(SCALE - d.scale))
  } else {
    const divisor = POW10[d.scale - SCALE] ?? 10n ** BigInt(d.scale - SCALE)
    if (d.value % divisor !== 0n) return undefined
    unscaled = d.value / divisor
  }
  return unscaled > -LIMIT && unscaled < LIMIT ? unscaled : undefined
}

/** Plain notation ("37.51", "-0.00000001"): no exponent, so the text is the value. */
const DECIMAL_TEXT = /^-?\d{1,10}(\.\d{1,8})?$/

const fits = Schema.makeFilter((d: BigDecimal.BigDecimal) =>
  toUnscaled(d) !== undefined || "must fit decimal(18, 8): at most 10 integer digits and 8 decimal places"
)

/** decimal(18, 8) from its decimal string. */
export const Decimal = Schema.String.pipe(
  Schema.check(Schema.isPattern(DECIMAL_TEXT, { message: "must be a plain decimal number with at most 8 decimal places" })),
  Schema.decodeTo(Schema.BigDecimal.pipe(Schema.check(fits)), {
    decode: SchemaGetter.transform((s: string) => BigDecimal.fromStringUnsafe(s)),
    encode: SchemaGetter.transform((d: BigDecimal.BigDecimal) => BigDecimal.format(d))
  })
)

export const PositiveDecimal = Decimal.pipe(
  Schema.check(Schema.makeFilter((d: BigDecimal.BigDecimal) => BigDecimal.isPositive(d) || "must be greater than 0"))
)

export const NonNegativeDecimal = Decimal.pipe(
  Schema.check(Schema.makeFilter((d: BigDecimal.BigDecimal) => !BigDecimal.isNegative(d) || "must not be negative"))
)
