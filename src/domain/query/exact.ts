/**
 * Exact decimal arithmetic on decimal strings: DuckDB sums exactly (DECIMAL(38, s)),
 * K2 divides here with bigints and rounds half-even ("banker's rounding") to 8 places.
 * No value ever passes through a JS float.
 */

export const OUTPUT_SCALE = 8

export interface Fixed {
  /** The value times 10^scale. */
  readonly unscaled: bigint
  readonly scale: number
}

const FIXED = /^(-?)(\d+)(?:\.(\d*))?$/

/** "123.4500" → 1234500 at scale 4. Throws on anything that is not plain decimal text (DuckDB's own output). */
export const parseFixed = (text: string): Fixed => {
  const m = FIXED.exec(text)
  if (m === null) throw new Error(`not a decimal: ${text}`)
  const frac = m[3] ?? ""
  const magnitude = BigInt(`${m[2]}${frac}`)
  return { unscaled: m[1] === "-" ? -magnitude : magnitude, scale: frac.length }
}

// Looked up, not computed: bigint exponentiation per value dominated converting a bar.
const POWERS = Array.from({ length: 77 }, (_, n) => 10n ** BigInt(n))
const pow10 = (n: number) => POWERS[n] ?? 10n ** BigInt(n)

/** Plain text with exactly `scale` decimal places. */
export const formatFixed = (unscaled: bigint, scale: number = OUTPUT_SCALE): string => {
  const negative = unscaled < 0n
  const digits = (negative ? -unscaled : unscaled).toString().padStart(scale + 1, "0")
  const body = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`
  return negative ? `-${body}` : body
}

/** n / d rounded half to even; d ≠ 0. */
export const divRoundHalfEven = (n: bigint, d: bigint): bigint => {
  if (d === 0n) throw new RangeError("division by zero")
  if (d < 0n) {
    n = -n
    d = -d
  }
  let q = n / d // truncates toward zero
  let r = n % d // same sign as n
  if (r < 0n) {
    q -= 1n
    r += d
  }
  // now n = q*d + r with 0 <= r < d: q is the floor
  const twice = 2n * r
  if (twice > d || (twice === d && (q & 1n) === 1n)) q += 1n
  return q
}

/** Beyond this a quotient's margin of error would reach a half: never decided from doubles. */
const APPROX_LIMIT = 2 ** 47

/**
 * n / d rounded half to even, decided from doubles when they can decide it: `n` approximates a
 * non-negative numerator within a relative 2^-51, `d` is the exact positive divisor (≤ 2^53).
 * The quotient then errs by less than x·2^-50; a result is given only when x sits farther than
 * x·2^-48 from a half, where the true quotient rounds the same way. NaN when too close to call
 * (about one quotient in 10^5 for prices near 10): divide exactly then.
 */
export const approxDivRoundHalfEven = (n: number, d: number): number => {
  const x = n / d
  if (!(x < APPROX_LIMIT)) return Number.NaN // also NaN in, NaN out
  const floor = Math.floor(x)
  const fraction = x - floor // exact: floor is within one of x
  const distance = fraction - 0.5
  if ((distance < 0 ? -distance : distance) <= x * 2 ** -48) return Number.NaN
  return distance < 0 ? floor : floor + 1
}

/** (a / b) at `scale` places, rounded half-even. */
export const divide = (a: Fixed, b: Fixed, scale: number = OUTPUT_SCALE): bigint => {
  // a·10^(b.scale + scale) / (b·10^a.scale), with the common powers of ten cancelled (smaller bigints).
  const shift = b.scale + scale - a.scale
  return shift >= 0
    ? divRoundHalfEven(a.unscaled * pow10(shift), b.unscaled)
    : divRoundHalfEven(a.unscaled, b.unscaled * pow10(-shift))
}

/** Rescales to `scale` places, rounding half-even when digits are dropped. */
export const rescale = (a: Fixed, scale: number = OUTPUT_SCALE): bigint =>
  a.scale === scale
    ? a.unscaled
    : a.scale < scale
    ? a.unscaled * pow10(scale - a.scale)
    : divRoundHalfEven(a.unscaled, pow10(a.scale - scale))

/** Decimal text divided by decimal text, as text with 8 places (half-even); null when the divisor is zero. */
export const divideText = (a: string, b: string, scale: number = OUTPUT_SCALE): string | null => {
  const divisor = parseFixed(b)
  return divisor.unscaled === 0n ? null : formatFixed(divide(parseFixed(a), divisor, scale), scale)
}

/** decimal(18, 8) request bounds: plain text, at most 10 integer digits and 8 places. */
export const DECIMAL_ARGUMENT = /^-?\d{1,10}(\.\d{1,8})?$/
