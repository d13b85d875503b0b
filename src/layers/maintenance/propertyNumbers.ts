/**
 * Numeric table properties (a target file size, the history.expire.* settings) read as Java's
 * Iceberg reads them, refused by name otherwise.
 */
import { Effect } from "effect"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import { showIdentifier, type TableIdentifier } from "../../services/Catalog.ts"
import { MaintenanceRefused } from "../../services/Maintenance.ts"

/** The largest value of the Java type Iceberg's PropertyUtil reads a property as (propertyAsInt, propertyAsLong). */
export const JAVA_MAX = { int: 2n ** 31n - 1n, long: 2n ** 63n - 1n } as const

/**
 * A numeric table property as Java's Iceberg reads it (PropertyUtil.propertyAsInt / propertyAsLong,
 * i.e. Integer.parseInt / Long.parseLong): an optional sign, then digits, within the Java type; no
 * space, unit, fraction, exponent or hex. K2 takes only a positive value. Unset: `fallback`. Anything
 * else is refused naming the table, the property and the value. Past 2^53 the number read is inexact,
 * which no age in milliseconds or size in bytes notices (Long.MAX_VALUE, Java's "never", stays never).
 * Java would also take other scripts' digits (Character.digit); K2 refuses them, by name.
 */
export const positiveProperty = (
  identifier: TableIdentifier,
  m: TableMetadata,
  key: string,
  type: keyof typeof JAVA_MAX,
  fallback: number,
  refusal: { readonly unit?: string; readonly then?: string } = {}
): Effect.Effect<number, MaintenanceRefused> => {
  const text = m.properties[key]
  if (text === undefined) return Effect.succeed(fallback)
  const value = /^[+-]?[0-9]+$/.test(text) ? BigInt(text) : undefined
  return value !== undefined && value > 0n && value <= JAVA_MAX[type]
    ? Effect.succeed(Number(value))
    : Effect.fail(
      new MaintenanceRefused({
        table: showIdentifier(identifier),
        detail: `table property ${key} is not a positive whole number${refusal.unit ?? ""} ` +
          `(as Java's Iceberg reads it: digits, an optional +, at most ${JAVA_MAX[type]}): ${JSON.stringify(text)}${refusal.then ?? ""}`
      })
    )
}
