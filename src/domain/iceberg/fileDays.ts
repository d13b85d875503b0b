/**
 * The UTC days a data file's rows may fall on, so a replay plays only those (a `follow` ranges to
 * 2200: scanning every day would be ~64,000 profiles statements). Any engine's files: first the
 * file's own bounds of exchange_timestamp (exact for timestamps, and the tightest), else its
 * partition value of a day/hour/month/year transform of exchange_timestamp, whatever the field's
 * name; null when neither is known (the replay then reads those files' days from their rows once, as
 * those of files spanning more than 2 days: src/layers/replay/playDays.ts).
 */
import * as Bounds from "./bounds.ts"
import type { DataFile, PartitionSpec } from "./spec.ts"
import { dayOfCivil, floorDiv, MICROS_PER_DAY_BIGINT } from "../time.ts"

/** First and last UTC day, inclusive. */
export type Days = readonly [number, number]

type TimeTransform = "day" | "hour" | "month" | "year"
const TIME: ReadonlyArray<string> = ["day", "hour", "month", "year"]

/**
 * The time transforms of column `sourceId` by partition field name, over every spec a file may
 * be written with. A name that two specs use otherwise is left out: a file does not say its spec,
 * and a value misread as another unit would place its rows on days they are not (lost).
 */
export const timeFields = (specs: ReadonlyArray<PartitionSpec>, sourceId: number): ReadonlyMap<string, TimeTransform> => {
  const seen = new Map<string, string>()
  const conflicting = new Set<string>()
  for (const spec of specs) {
    for (const f of spec.fields) {
      const meaning = `${f.transform}(${f["source-id"]})`
      const before = seen.get(f.name)
      if (before !== undefined && before !== meaning) conflicting.add(f.name)
      seen.set(f.name, meaning)
    }
  }
  const out = new Map<string, TimeTransform>()
  for (const spec of specs) {
    for (const f of spec.fields) {
      if (f["source-id"] === sourceId && TIME.includes(f.transform) && !conflicting.has(f.name)) {
        out.set(f.name, f.transform as TimeTransform)
      }
    }
  }
  return out
}

/** A timestamp bound (8 bytes little-endian micros) as its UTC day; null when not one. */
const dayOfBound = (bytes: Uint8Array | undefined): number | null => {
  if (bytes === undefined || bytes.length !== 8) return null
  const micros = Bounds.decode("timestamptz", bytes) as bigint
  return Number(floorDiv(micros, MICROS_PER_DAY_BIGINT))
}

const monthStart = (months: number) => {
  const years = Math.floor(months / 12)
  return dayOfCivil(1970 + years, months - years * 12 + 1, 1)
}

const daysOfValue = (transform: TimeTransform, v: number): Days => {
  switch (transform) {
    case "day":
      return [v, v]
    case "hour": {
      const day = Math.floor(v / 24)
      return [day, day]
    }
    case "month":
      return [monthStart(v), monthStart(v + 1) - 1]
    case "year":
      return [dayOfCivil(1970 + v, 1, 1), dayOfCivil(1971 + v, 1, 1) - 1]
  }
}

/** The days `file` may hold rows of, its timestamps being column `sourceId`; null when unknown. */
export const daysOfFile = (file: DataFile, sourceId: number, fields: ReadonlyMap<string, TimeTransform> | undefined): Days | null => {
  const lower = dayOfBound(file.lowerBounds.get(sourceId))
  const upper = dayOfBound(file.upperBounds.get(sourceId))
  if (lower !== null && upper !== null && lower <= upper) return [lower, upper]
  if (fields === undefined) return null
  for (const [name, value] of Object.entries(file.partition)) {
    const transform = fields.get(name)
    if (transform !== undefined && typeof value === "number" && Number.isSafeInteger(value)) return daysOfValue(transform, value)
  }
  return null
}

/** Whether `file` needs a partition spec to be placed: it has no bounds of column `sourceId`. */
export const needsSpec = (file: DataFile, sourceId: number): boolean => daysOfFile(file, sourceId, undefined) === null
