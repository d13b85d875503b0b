/** Settings read from the environment alone (no flag), checked as they are read: a refusal names the variable and shows its value. */
import { Config, Schema } from "effect"

/**
 * A count setting, an integer of at least 1; else a ConfigError naming the variable, the value and
 * the range (Effect's number schema said neither the value nor that an integer was wanted).
 */
export const atLeastOne = (name: string) =>
  Config.schema(
    Schema.String.check(Schema.makeFilter((s: string) =>
      (/^\d+$/.test(s) && Number(s) >= 1 && Number.isSafeInteger(Number(s))) || `${JSON.stringify(s)} is not an integer of at least 1`
    )),
    name
  ).pipe(Config.map(Number))
