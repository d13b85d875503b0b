/**
 * `npm run compact`: table maintenance. Per table: compaction (small files of each day
 * rewritten into files near --target-file-size-mb, else the table's write.target-file-size-bytes, sorted), snapshot expiry (older than
 * --expire-older-than-hours beyond the newest --retain-last; the newest snapshot carrying each
 * consumer group's marker always stays) and orphan-file removal (unreferenced files older than
 * --orphan-grace-hours); --skip-compaction, --skip-expiry, --skip-orphans. Once, or every --every seconds until SIGTERM/SIGINT.
 */
import { Console, Duration, Effect, Layer, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { checked, commonEnvironment, describedWith, envSetting, givenFlags, inRange, integerFlag, integerRead, lakehouseEnvironment, modeSetting, positive } from "./cli/flags.ts"
import { ingestedTables } from "../domain/tables.ts"
import { DuckDb } from "../layers/duckdb/DuckDb.ts"
import { localPath } from "../layers/iceberg/fileio.ts"
import * as MaintenanceLayer from "../layers/maintenance/maintenance.ts"
import * as Telemetry from "../layers/telemetry/telemetry.ts"
import { showIdentifier } from "../services/Catalog.ts"
import { Maintenance, type MaintenanceReport } from "../services/Maintenance.ts"
import { UsageError, usage } from "./cli/common.ts"
import { existingStorage, lakehouseFlags } from "./cli/lakehouse.ts"
import { failsWhenStopped, runCommand } from "./cli/run.ts"

/**
 * Below this, orphan removal may delete the files of a commit in flight: a writer's files wait for
 * their commit, which a catalog outage keeps retrying for minutes (Spark's procedure refuses under
 * 24 hours the same way, unless told).
 */
const SAFE_ORPHAN_GRACE_HOURS = 1

/** --orphan-grace-hours when not given: left to the step that reads it, so that a run skipping it can tell it was given. */
const DEFAULT_ORPHAN_GRACE_HOURS = 24

const defaultTables = ingestedTables(true).map((t) => `${t.namespace}.${t.name}`)

const flags = {
  ...lakehouseFlags,
  tables: Flag.String("tables").pipe(
    Flag.withDescription(`tables to maintain, comma separated (namespace.name); one named here and missing fails the run (default ${defaultTables.join(",")}, skipped when missing)`),
    Flag.optional
  ),
  every: integerFlag("every").pipe(
    Flag.withDescription("run every N seconds (from each run's start; a longer run is followed as it ends), N at least 1, until interrupted (env K2_MAINTENANCE_EVERY; default: once)"),
    envSetting("K2_MAINTENANCE_EVERY", integerRead, inRange(1)),
    Flag.optional
  ),
  // Absent: each table's write.target-file-size-bytes, else 128 MiB (ADR-99).
  targetFileSizeMb: integerFlag("target-file-size-mb").pipe(
    Flag.withDescription("size compacted files aim at; default: the table's write.target-file-size-bytes, else 128"),
    checked(inRange(1)),
    Flag.optional
  ),
  // Absent: each table's history.expire.* properties, else 120 hours and 1 snapshot (as Java's expiry).
  expireOlderThanHours: Flag.Finite("expire-older-than-hours").pipe(
    Flag.withDescription("expire snapshots older than this (beyond --retain-last); default: the table's history.expire.max-snapshot-age-ms, else 120"),
    checked(inRange(0)),
    Flag.optional
  ),
  retainLast: integerFlag("retain-last").pipe(
    Flag.withDescription("always keep this many newest snapshots; default: the table's history.expire.min-snapshots-to-keep, else 1"),
    checked(inRange(1)),
    Flag.optional
  ),
  orphanGraceHours: Flag.Finite("orphan-grace-hours").pipe(
    modeSetting("remove unreferenced files only when older than this", {
      fallback: DEFAULT_ORPHAN_GRACE_HOURS,
      // Younger files may belong to a commit still in flight (or of unknown outcome): never 0.
      check: positive
    })
  ),
  allowShortOrphanGrace: Flag.Boolean("allow-short-orphan-grace").pipe(
    Flag.withDescription(`take an --orphan-grace-hours under ${SAFE_ORPHAN_GRACE_HOURS}: only while nothing writes to these tables`),
    Flag.withDefault(false)
  ),
  noCompact: Flag.Boolean("skip-compaction").pipe(Flag.withDescription("skip compaction"), Flag.withDefault(false)),
  noExpire: Flag.Boolean("skip-expiry").pipe(Flag.withDescription("skip snapshot expiry"), Flag.withDefault(false)),
  noOrphans: Flag.Boolean("skip-orphans").pipe(Flag.withDescription("skip orphan-file removal"), Flag.withDefault(false)),
  dryRun: Flag.Boolean("dry-run").pipe(
    Flag.withDescription(
      "change nothing: no compaction, no expiry; list the files orphaned now (older than --orphan-grace-hours). " +
        "Not all a run removes: a real run also removes the files its compaction and expiry free"
    ),
    Flag.withDefault(false)
  )
}

type Options = Command.Command.Config.Infer<typeof flags>

/**
 * The flags given for a step this run does not take (`--dry-run` neither compacts nor expires),
 * by name, with what skips each step; empty when none. They were taken without a word: a
 * command line that reads as a setting and sets nothing.
 */
const flagsOfStepsNotTaken = (options: Options) => {
  const steps = [
    {
      skipped: options.dryRun ? "--dry-run does not compact" : options.noCompact ? "--skip-compaction skips compaction" : undefined,
      given: [["target-file-size-mb", Option.isSome(options.targetFileSizeMb)]] as const
    },
    {
      skipped: options.dryRun ? "--dry-run expires no snapshot" : options.noExpire ? "--skip-expiry skips snapshot expiry" : undefined,
      given: [["expire-older-than-hours", Option.isSome(options.expireOlderThanHours)], ["retain-last", Option.isSome(options.retainLast)]] as const
    },
    {
      skipped: options.noOrphans ? "--skip-orphans skips orphan-file removal" : undefined,
      given: [["allow-short-orphan-grace", options.allowShortOrphanGrace], ["orphan-grace-hours", Option.isSome(options.orphanGraceHours)]] as const
    }
  ]
  const ignored = steps.filter((s) => s.skipped !== undefined).map((s) => ({
    skipped: s.skipped!,
    flags: givenFlags(s.given)
  })).filter((s) => s.flags.length > 0)
  return { flags: ignored.flatMap((s) => s.flags).sort(), because: ignored.map((s) => s.skipped) }
}

/** The tables to maintain, and whether the user named them (then a missing one is a failure, not a skip). */
const tablesOf = (option: Option.Option<string>) => {
  const names = Option.match(option, {
    onNone: () => defaultTables,
    // Each once, as --symbols is read: a table named twice was maintained and reported twice.
    onSome: (text) => [...new Set(text.split(",").map((t) => t.trim()).filter((t) => t.length > 0))]
  })
  const ids = names.map((t) => {
    const dot = t.lastIndexOf(".")
    if (dot <= 0 || dot === t.length - 1) throw new UsageError({ message: `--tables: ${JSON.stringify(t)} is not namespace.name (e.g. market_data.trades)` })
    return { namespace: t.slice(0, dot), name: t.slice(dot + 1) }
  })
  if (ids.length === 0) throw new UsageError({ message: "--tables: no table named" })
  return { ids, named: Option.isSome(option) }
}

const report = (r: MaintenanceReport, dryRun: boolean): string => {
  const lines = [showIdentifier(r.table)]
  if (r.compact !== null) {
    lines.push(`  files              ${r.compact.filesBefore} -> ${r.compact.filesAfter}`)
    for (const p of r.compact.partitions) {
      lines.push(
        `    ${p.label}  ${p.filesBefore} -> ${p.filesAfter} files, ${p.bytesBefore} -> ${p.bytesAfter} bytes, ${p.rows} rows rewritten`
      )
    }
  }
  if (r.expire !== null) {
    lines.push(`  snapshots          ${r.expire.snapshotsBefore} -> ${r.expire.snapshotsAfter}`)
    lines.push(`  metadata.json      ${r.expire.metadataBytesBefore} -> ${r.expire.metadataBytesAfter} bytes`)
    if (r.expire.refsRemoved.length > 0) lines.push(`  refs removed       ${r.expire.refsRemoved.join(", ")} (past their max-ref-age-ms)`)
    for (const [group, id] of Object.entries(r.expire.markers)) lines.push(`    marker of ${group} kept in snapshot ${id}`)
  }
  if (r.orphans !== null) {
    lines.push(
      `  orphans            ${r.orphans.removed.length} ${dryRun ? "would be removed" : "removed"} (${r.orphans.bytesRemoved} bytes), ${r.orphans.tooYoung} within the grace period, ${r.orphans.filesScanned} files scanned`
    )
    if (dryRun) for (const file of r.orphans.removed) lines.push(`    ${localPath(file)}`)
  }
  return lines.join("\n")
}

const orphanGraceHours = (options: Options) => Option.getOrElse(options.orphanGraceHours, () => DEFAULT_ORPHAN_GRACE_HOURS)

/** A single run (no `--every`) stopped by a signal before its end: not all its tables were maintained. */
class CompactStopped extends Schema.TaggedError<CompactStopped>()("CompactStopped", { message: Schema.String }) {}

/** A run in which some tables failed (each said why as it failed): the others were maintained. Exit 1. */
export class MaintenanceFailed extends Schema.TaggedError<MaintenanceFailed>()("MaintenanceFailed", {
  tables: Schema.Array(Schema.String)
}) {
  override get message() {
    return `maintenance failed for ${this.tables.join(", ")}`
  }
}

/**
 * What a stopped run tells: the tables it was done with, the one it was at, the ones it did not reach.
 * It ended 0 without a word (a cron job or a job runner's timeout took it for a whole run), as a
 * cut-short query or replay did.
 */
const stoppedBefore = (ids: ReadonlyArray<{ namespace: string; name: string }>, done: ReadonlyArray<string>) => {
  const rest = ids.map(showIdentifier).filter((t) => !done.includes(t))
  const parts = [
    `done with ${done.length === 0 ? "no table" : done.join(", ")}`,
    ...(rest.length > 0 ? [`cut short at ${rest[0]}`] : []),
    ...(rest.length > 1 ? [`not started: ${rest.slice(1).join(", ")}`] : [])
  ]
  return `compact stopped before its end: ${parts.join("; ")} (run it again: what a cut-short step wrote is removed as orphans past the grace period)`
}

/**
 * Every table in turn: one that fails is reported and the others are still maintained; the run fails after them.
 * `done` gets each table as the run is through with it (for a stop's message).
 */
const once = (options: Options, { ids, named }: ReturnType<typeof tablesOf>, done: Array<string> = []) =>
  Effect.gen(function*() {
    const maintenance = yield* Maintenance
    const started = performance.now()
    done.length = 0
    // A dry run neither compacts nor expires, so it cannot know the files those would free: say so, lest
    // its list be taken for all a run removes.
    if (options.dryRun) {
      yield* Console.error(
        "dry run: no compaction, no snapshot expiry; the files orphaned now are listed, not removed " +
          "(a real run also removes the files its compaction and expiry free)"
      )
    }
    const failed = new Set<string>()
    for (const id of ids) {
      const fail = (message: string) =>
        Effect.sync(() => void failed.add(showIdentifier(id))).pipe(Effect.andThen(Console.error(`${showIdentifier(id)} failed: ${message}`)))
      const r = yield* maintenance.run(id, {
        compact: options.noCompact || options.dryRun ? false : Option.match(options.targetFileSizeMb, {
          onNone: () => ({}),
          onSome: (mb) => ({ targetFileSizeBytes: mb * 1024 * 1024 })
        }),
        expire: options.noExpire || options.dryRun ? false : {
          ...Option.match(options.expireOlderThanHours, { onNone: () => ({}), onSome: (h) => ({ maxSnapshotAgeMs: h * 3_600_000 }) }),
          ...Option.match(options.retainLast, { onNone: () => ({}), onSome: (n) => ({ retainLast: n }) })
        },
        orphans: options.noOrphans ? false : {
          olderThanMs: orphanGraceHours(options) * 3_600_000,
          dryRun: options.dryRun
        }
      }).pipe(
        Effect.catchReason("CatalogError", "NoSuchTable", (e, error) =>
          named ? Effect.fail(error) : Console.error(`skipped: ${e.message}`).pipe(Effect.as(null))),
        Effect.catch((e) => fail(e.message).pipe(Effect.as(null)))
      )
      done.push(showIdentifier(id))
      if (r === null) continue
      // The table is not there: a default one is skipped, one named fails the run (once, not for each step).
      const absent = [r.compactFailure, r.expireFailure, r.orphanFailure].find((f) => f?._tag === "CatalogError" && f.reason._tag === "NoSuchTable")
      if (absent != null) {
        yield* named ? fail(absent.message) : Console.error(`skipped: ${absent.message}`)
        continue
      }
      yield* Console.log(report(r, options.dryRun))
      // After what the other steps did: they ran all the same.
      for (const failure of [r.compactFailure, r.expireFailure, r.orphanFailure]) if (failure !== null) yield* fail(failure.message)
    }
    // A run with a failed table ends on the failure alone: "done" above it read as a success.
    if (failed.size > 0) return yield* Effect.fail(new MaintenanceFailed({ tables: [...failed] }))
    yield* Console.log(`maintenance done in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  })

export const compactCommand = Command.make("compact", flags, (options) =>
  usage(() => {
    const targets = tablesOf(options.tables)
    // Else it printed each table's name and exited 0 (under --every, forever), as if it had maintained them.
    if ((options.noCompact || options.dryRun) && (options.noExpire || options.dryRun) && options.noOrphans) {
      throw new UsageError({
        message: options.dryRun
          ? "nothing to do: --dry-run lists orphan files only (no compaction, no expiry), and --skip-orphans skips that"
          : "nothing to do: --skip-compaction, --skip-expiry and --skip-orphans skip every step"
      })
    }
    // Before the warehouse is touched: a flag of a step not taken was taken silently.
    const notTaken = flagsOfStepsNotTaken(options)
    if (notTaken.flags.length > 0) {
      throw new UsageError({
        message: `${notTaken.flags.join(", ")}: for a step this run does not take (${notTaken.because.join("; ")}); ` +
          `leave ${notTaken.flags.length === 1 ? "it" : "them"} out`
      })
    }
    const grace = orphanGraceHours(options)
    if (!options.noOrphans && !options.dryRun && !options.allowShortOrphanGrace && grace < SAFE_ORPHAN_GRACE_HOURS) {
      throw new UsageError({
        message: `--orphan-grace-hours ${grace} may remove the files of a commit in flight (a running ingest's, waiting out its catalog): ` +
          `under ${SAFE_ORPHAN_GRACE_HOURS} only with --allow-short-orphan-grace, while nothing writes to these tables`
      })
    }
    // The tables a single run is through with, for the message of a signal that stops it.
    const done: Array<string> = []
    const program = Effect.gen(function*() {
      // DuckDB is opened for each run and closed after it: kept open, it held the memory of its
      // last sort between runs (660-835 MB, docs/operations.md). Its settings are read once.
      const duckDb = DuckDb.layerWith(yield* DuckDb.settings)
      const run = once(options, targets, done).pipe(Effect.provide(MaintenanceLayer.layer().pipe(Layer.provide(duckDb))))
      return yield* Option.match(options.every, {
        onNone: () => run,
        onSome: (seconds) =>
          MaintenanceLayer.repeatEvery(
            run.pipe(Effect.catchCause((cause) => Effect.logWarning("maintenance run failed", cause))),
            Duration.seconds(seconds)
          )
      })
    })
    const provided = program.pipe(Effect.provide(existingStorage(options)))
    // `--every` is a service: a signal is how it ends (exit 0). A single run stopped before its end
    // says so and exits 1 (run.ts `failsWhenStopped`), the catalog's opening included.
    return Option.isSome(options.every)
      ? provided
      : provided.pipe(failsWhenStopped(() => new CompactStopped({ message: stoppedBefore(targets.ids, done) })))
  }).pipe(Effect.provide(Telemetry.layer("compact")))).pipe(Command.withDescription(describedWith(
  "Compact small files, expire snapshots, remove orphan files. A flag of a step the run does not take (compaction's or " +
    "expiry's with --dry-run or that step's --skip-*, orphan removal's with --skip-orphans) is refused (exit 2).",
  [...lakehouseEnvironment, ...commonEnvironment]
)))

if (import.meta.main) runCommand(compactCommand)
