/** Shared pieces of the query and replay programs: the lakehouse from env, argument parsing, output. */
import * as path from "node:path"
import { Config, Effect, Layer, Option } from "effect"
import { Flag } from "effect/cli"
import { setting } from "./flags.ts"
import { parseIsoMicros } from "../../domain/time.ts"
import * as Lakehouse from "../../layers/lakehouse.ts"
import { catalogChoice } from "./lakehouse.ts"
import type { Answer, Scanned } from "../../services/QueryEngine.ts"
import type { SnapshotSelector } from "../../services/TableScanner.ts"
import { csvCell } from "../../domain/csv.ts"

/** The warehouse and catalog from K2_WAREHOUSE, K2_CATALOG and K2_CATALOG_NAME, as the ingest flags read them. */
export const lakehouseFromEnv = Layer.unwrap(Effect.gen(function*() {
  const warehouse = path.resolve(yield* Config.String("K2_WAREHOUSE").pipe(Config.withDefault("warehouse")))
  const catalog = yield* Config.option(Config.String("K2_CATALOG"))
  const catalogName = yield* Config.String("K2_CATALOG_NAME").pipe(Config.withDefault("k2"))
  return Lakehouse.layer({ warehouse, catalogName, catalog: catalogChoice({ warehouse, catalog }) })
}))

export class UsageError extends Error {}

/** An instant: ISO-8601 with an offset, a date (midnight UTC), or integer epoch microseconds. */
export const parseInstant = (name: string, text: string): number => {
  if (/^-?\d{13,}$/.test(text)) return Number(text)
  const micros = parseIsoMicros(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text)
  if (micros === undefined) throw new UsageError(`--${name}: ${JSON.stringify(text)} is not an ISO-8601 instant (2024-03-10T10:05:44Z), a date or epoch micros`)
  return micros
}

export const symbolsFlag = Flag.String("symbols").pipe(
  Flag.withAlias("s"),
  Flag.withDescription("Comma-separated symbols (default: all)"),
  Flag.withDefault("")
)
export const fromFlag = Flag.String("from").pipe(Flag.withDescription("Start instant, inclusive (ISO-8601, date, or epoch micros)"))
export const toFlag = Flag.String("to").pipe(Flag.withDescription("End instant, exclusive"))
export const snapshotIdFlag = Flag.String("snapshot-id").pipe(Flag.withDescription("Read this snapshot (time travel)"), Flag.optional)
export const asOfFlag = Flag.String("as-of").pipe(Flag.withDescription("Read the table as it was at this instant"), Flag.optional)

export const splitList = (text: string) => text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)

export const snapshotOf = (id: Option.Option<string>, asOf: Option.Option<string>): SnapshotSelector | undefined => {
  if (Option.isSome(id) && Option.isSome(asOf)) throw new UsageError("give --snapshot-id or --as-of, not both")
  if (Option.isSome(id)) {
    if (!/^-?\d{1,20}$/.test(id.value)) throw new UsageError(`--snapshot-id: ${JSON.stringify(id.value)} is not a snapshot id`)
    return { _tag: "ById", snapshotId: BigInt(id.value) }
  }
  if (Option.isSome(asOf)) return { _tag: "AsOf", timestampMs: Math.floor(parseInstant("as-of", asOf.value) / 1000) }
  return undefined
}

// --- output ------------------------------------------------------------------------------

export type Format = "table" | "csv" | "json"
export const formatFlag = Flag.Literals("format", ["table", "csv", "json"]).pipe(
  Flag.withAlias("o"),
  setting<Format>("Output: aligned table, CSV, or JSON", { fallback: "table" })
)

export const jsonReplacer = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v)

const cell = (v: unknown): string =>
  v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v, jsonReplacer) : String(v)


/** Prints rows in the chosen format; the scan report goes to stderr (except in JSON, where it is part of the document). */
export const printRows = (
  rows: ReadonlyArray<Readonly<Record<string, unknown>>>,
  format: Format,
  extra: Record<string, unknown> = {}
) =>
  Effect.sync(() => {
    if (format === "json") {
      process.stdout.write(`${JSON.stringify({ ...extra, rows }, jsonReplacer, 2)}\n`)
      return
    }
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))]
    if (format === "csv") {
      process.stdout.write(`${columns.join(",")}\n`)
      for (const r of rows) process.stdout.write(`${columns.map((c) => csvCell(r[c])).join(",")}\n`)
    } else {
      const text = rows.map((r) => columns.map((c) => cell(r[c])))
      const widths = columns.map((c, i) => Math.max(c.length, ...text.map((t) => t[i]!.length)))
      const line = (cells: ReadonlyArray<string>) => cells.map((s, i) => s.padEnd(widths[i]!)).join("  ").trimEnd()
      process.stdout.write(`${line(columns)}\n${line(widths.map((w) => "-".repeat(w)))}\n`)
      for (const t of text) process.stdout.write(`${line(t)}\n`)
    }
    if (Object.keys(extra).length > 0) process.stderr.write(`${JSON.stringify(extra, jsonReplacer)}\n`)
  })

export const scanReport = (answer: Answer<unknown>) => ({
  rowsReturned: answer.rowsReturned,
  elapsedMs: Number(answer.elapsedMs.toFixed(3)),
  scanned: answer.scanned.map((s: Scanned) => ({ ...s, planningMs: Number(s.planningMs.toFixed(3)) }))
})

/** Runs a handler body, turning a UsageError into a message and exit code 2. */
export const usage = <A, E, R>(body: () => Effect.Effect<A, E, R>) =>
  Effect.suspend(() => {
    try {
      return body()
    } catch (e) {
      if (e instanceof UsageError) {
        return Effect.sync(() => {
          process.stderr.write(`${e.message}\n`)
          process.exitCode = 2
        })
      }
      throw e
    }
  })
