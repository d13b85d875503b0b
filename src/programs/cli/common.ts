/** Shared pieces of the query and replay programs: argument parsing and output. */
import { Effect, Option, Schema } from "effect"
import { Flag } from "effect/cli"
import { setting } from "./flags.ts"
import { BadParam, parseInstant as parseApiInstant, parseSnapshot, parseSymbols } from "../../domain/api/params.ts"
import type { Answer, Scanned } from "../../services/QueryEngine.ts"
import type { SnapshotSelector } from "../../services/TableScanner.ts"
import { csvCell } from "../../domain/csv.ts"
import { renderTable } from "../../domain/textTable.ts"

export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { message: Schema.String }) {}

/** What the HTTP API's parser made of flag `--flag`, or its refusal as a usage error naming the flag. */
export const orUsage = <A>(flag: string, parsed: A | BadParam): A => {
  if (parsed instanceof BadParam) throw new UsageError({ message: `--${flag}: ${parsed.detail}` })
  return parsed
}

/** An instant as the HTTP API reads it (ISO-8601, a date, or epoch microseconds), or a usage error. */
export const parseInstant = (name: string, text: string, pastMicros: "truncate" | "up" = "up", bound: "instant" | "end" = "instant"): number =>
  orUsage(name, parseApiInstant(name, text, pastMicros, bound))

export const symbolsFlag = Flag.String("symbols").pipe(
  Flag.withAlias("s"),
  Flag.withDescription("Comma-separated symbols (default: all)"),
  Flag.optional
)

/** --symbols as the HTTP API reads symbols (each once, sorted; none given is all); given empty, a usage error (an unset variable). */
export const symbolsOf = (flag: Option.Option<string>): ReadonlyArray<string> =>
  orUsage("symbols", parseSymbols(Option.getOrUndefined(flag), Number.MAX_SAFE_INTEGER))
export const fromFlag = Flag.String("from").pipe(Flag.withDescription("Start instant, inclusive (ISO-8601, date, or epoch micros)"))
export const toFlag = Flag.String("to").pipe(Flag.withDescription("End instant, exclusive"))
export const snapshotIdFlag = Flag.String("snapshot-id").pipe(Flag.withDescription("Read this snapshot (time travel, as far back as the table keeps snapshots: an hour for K2's tables)"), Flag.optional)
export const asOfFlag = Flag.String("as-of").pipe(Flag.withDescription("Read the table as it was at this instant (within the snapshots it keeps: an hour for K2's tables)"), Flag.optional)

/** --snapshot-id or --as-of as the HTTP API reads snapshot_id and as_of (a 64-bit id), or a usage error. */
export const snapshotOf = (id: Option.Option<string>, asOf: Option.Option<string>): SnapshotSelector | undefined => {
  if (Option.isSome(id) && Option.isSome(asOf)) throw new UsageError({ message: "give --snapshot-id or --as-of, not both" })
  // A flag given empty is a mistake (an unset variable), as an empty query parameter is in the API.
  if (Option.isSome(id) && id.value === "") throw new UsageError({ message: `--snapshot-id: "" is not a snapshot id` })
  if (Option.isSome(asOf) && asOf.value === "") throw new UsageError({ message: `--as-of: "" is not an instant` })
  const snapshot = parseSnapshot(Option.getOrUndefined(id), Option.getOrUndefined(asOf))
  // Refused naming the flag of whichever of the two was wrong.
  if (snapshot instanceof BadParam) throw new UsageError({ message: `--${snapshot.name.replace("_", "-")}: ${snapshot.detail}` })
  return snapshot._tag === "Latest" ? undefined : snapshot
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


/**
 * Prints rows in the chosen format; the scan report goes to stderr (except in JSON, where it is
 * part of the document). `columns` are the answer's, so that an empty one still has its header.
 * Once written, the whole answer is in stdout's hands: a pipe's reader that has not taken it yet
 * (`| gzip`, ssh) gets it before the program exits (run.ts `afterWritten`), a signal meanwhile
 * included. Waiting for it here made a signal then fail the query (exit 1, `stdout holds none of
 * it, or only a part`), the whole answer still reaching the reader.
 */
export const printRows = (
  rows: ReadonlyArray<Readonly<Record<string, unknown>>>,
  columns: ReadonlyArray<string>,
  format: Format,
  extra: Record<string, unknown> = {}
) =>
  Effect.suspend(() => {
    const write = (text: string) => void process.stdout.write(text)
    if (format === "json") {
      write(`${JSON.stringify({ ...extra, rows }, jsonReplacer, 2)}\n`)
    } else {
      if (format === "csv") {
        write(`${columns.join(",")}\n`)
        for (const r of rows) write(`${columns.map((c) => csvCell(r[c])).join(",")}\n`)
      } else {
        write(renderTable(columns, rows.map((r) => columns.map((c) => cell(r[c])))))
      }
      if (Object.keys(extra).length > 0) process.stderr.write(`${JSON.stringify(extra, jsonReplacer)}\n`)
    }
    return Effect.void
  })

/**
 * Waits until what `out` holds has gone to its reader (a pipe, `| gzip`, ssh, is written
 * asynchronously): a writer of many batches (replay) holds no more than a batch in memory. A
 * stream that errors (EPIPE: run.ts exits) or closes never drains: stop waiting then too.
 */
export const drained = (out: NodeJS.WritableStream & { readonly destroyed?: boolean }) =>
  out.destroyed === true
    ? Effect.void
    : Effect.callback<void>((resume) => {
      const stop = () => {
        out.off("drain", done)
        out.off("close", done)
      }
      const done = () => {
        stop()
        resume(Effect.void)
      }
      out.once("drain", done)
      out.once("close", done)
      return Effect.sync(stop)
    })

export const scanReport = (answer: Answer<unknown>) => ({
  rowsReturned: answer.rowsReturned,
  elapsedMs: Number(answer.elapsedMs.toFixed(3)),
  scanned: answer.scanned.map((s: Scanned) => ({ ...s, planningMs: Number(s.planningMs.toFixed(3)) }))
})

/**
 * Runs a handler body, a UsageError it throws becoming its failure: `runCommand` says it and exits
 * 2, as for one the body's effect fails with.
 */
export const usage = <A, E, R>(body: () => Effect.Effect<A, E, R>): Effect.Effect<A, E | UsageError, R> =>
  Effect.suspend((): Effect.Effect<A, E | UsageError, R> => {
    try {
      return body()
    } catch (e) {
      if (e instanceof UsageError) return Effect.fail(e)
      throw e
    }
  })
