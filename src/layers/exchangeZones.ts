/**
 * Exchanges' zones, whose local dates are their trading days: the default table
 * (domain/sequence/calendar.ts) with K2_SEQUENCE_ZONES' pairs over it. Ingest's sequence trackers
 * (day changes) and the query engine (daily summaries) read the same, so both count an exchange's
 * day alike.
 */
import { Config, Schema } from "effect"
import { CODE_PATTERN, CODE_RULE } from "../domain/marketData.ts"
import { defaultExchangeZones } from "../domain/sequence/calendar.ts"
import { isKnownZone } from "../domain/zone.ts"

/** `EXCHANGE=Zone` pairs, comma separated: each pair's text, its two sides, and whether it has more. */
const zonePairs = (text: string) =>
  text.split(",").map((p) => p.trim()).filter((p) => p !== "").map((pair) => {
    const [exchange = "", zone = "", ...rest] = pair.split("=").map((x) => x.trim())
    return { pair, exchange, zone, extra: rest.length > 0 }
  })

// Checked here so that a bad pair is a ConfigError naming the variable. Records' exchange codes are
// upper case (CODE_PATTERN): a pair naming another code would match none, silently; a second pair
// for one exchange would silently override the first.
const ZonePairs = Schema.String.check(Schema.makeFilter((text: string) => {
  const named = new Set<string>()
  for (const { pair, exchange, zone, extra } of zonePairs(text)) {
    if (exchange === "" || extra || !isKnownZone(zone)) return `"${pair}" is not EXCHANGE=IANA/Zone with a zone Intl knows`
    if (!CODE_PATTERN.test(exchange)) return `"${pair}": the exchange ${CODE_RULE}, as records name it`
    if (named.has(exchange)) return `"${pair}": exchange ${exchange} is named twice`
    named.add(exchange)
  }
  return true
}))

/** K2_SEQUENCE_ZONES: extra exchange=IANA zone pairs, comma separated, e.g. "XTKS=Asia/Tokyo". */
export const exchangeZonesFromConfig = Config.schema(ZonePairs, "K2_SEQUENCE_ZONES").pipe(
  Config.withDefault(""),
  Config.map((text): Readonly<Record<string, string>> => ({
    ...defaultExchangeZones,
    ...Object.fromEntries(zonePairs(text).map(({ exchange, zone }) => [exchange, zone]))
  }))
)
