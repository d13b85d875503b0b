/** Settings read from the environment alone (no flag), checked as they are read: a refusal names the variable and shows its value. */
import { Config, Schema } from "effect"

/**
 * The one form of an integer setting, flag or variable alike: decimal digits, after a `-` for a
 * negative one, within 2^53 - 1; else undefined. Effect's integer parse (Number) also took `1e3`,
 * `1.0`, `+5` and `-0` from a flag while a variable without one took digits only.
 */
export const integerOf = (text: string): number | undefined => {
  const n = /^-?\d+$/.test(text) ? Number(text) : Number.NaN
  // + 0: "-0" is 0.
  return Number.isSafeInteger(n) ? n + 0 : undefined
}

/** What `integerOf` takes, as a refusal says it. */
export const INTEGER_FORM = `decimal digits only, at most ${Number.MAX_SAFE_INTEGER}`

/** An integer setting's bounds, both optional. */
export interface IntegerRange {
  readonly min?: number
  readonly max?: number
}

const rangeText = ({ min, max }: IntegerRange) =>
  min !== undefined && max !== undefined ? ` in ${min}..${max}` : min !== undefined ? ` of at least ${min}` : max !== undefined ? ` of at most ${max}` : ""

/**
 * An integer setting (`integerOf`) within `range`; else a ConfigError naming the variable and
 * showing its value (`said` words the refusal: a flag's variable says what it expects, the CLI
 * showing the value).
 */
export const integer = (
  name: string,
  range: IntegerRange = {},
  said: (text: string, wanted: string) => string = (text, wanted) => `${JSON.stringify(text)} is not ${wanted}`
) =>
  Config.schema(
    Schema.String.check(Schema.makeFilter((s: string) => {
      const n = integerOf(s)
      return (n !== undefined && n >= (range.min ?? -Infinity) && n <= (range.max ?? Infinity)) ||
        said(s, `an integer${rangeText(range)} (${INTEGER_FORM})`)
    })),
    name
  ).pipe(Config.map((s) => integerOf(s)!))

/** A count setting, an integer of at least 1 (Effect's number schema said neither the value nor that an integer was wanted). */
export const atLeastOne = (name: string) => integer(name, { min: 1 })
