/**
 * The embedded run's record, `embedded-run.json` in the warehouse: the settings of the simulated
 * day ingested there, and the claim that refuses a run that would mix with another's tables.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Schema } from "effect"
import { markerOf } from "../../domain/ingest/marker.ts"
import { identifierOf, type TableName } from "../../domain/tables.ts"
import * as Feeds from "../../layers/feeds/simulator.ts"
import { describeOthers, othersTopics } from "../../layers/ingest/otherGroups.ts"
import { Catalog } from "../../services/Catalog.ts"
import { UsageError } from "./common.ts"
import { symbolsSetting } from "./symbols.ts"

/** What of ingest's flags the record holds or is kept by. */
export interface EmbeddedRunSettings {
  readonly warehouse: string
  readonly group: string
  readonly partitions: { readonly value: number }
}

/** The simulator's run as the flags shape it (their defaults filled in). */
export interface SimulatorRun {
  readonly events: number
  readonly seed: number
}

/**
 * What an embedded run publishes and where it goes. Its log's offsets start at 0 every run and the
 * tables' markers say which are in, so only a run with the same settings may follow it on a
 * warehouse: another would skip its records below the markers and write the rest, a mix of two days.
 */
const embeddedRunOf = (
  options: EmbeddedRunSettings,
  { events, seed }: SimulatorRun,
  topics: ReadonlyArray<string>,
  symbols: ReadonlyArray<string> | undefined
): typeof EmbeddedRunJson.Type => {
  const universe = symbolsSetting(symbols)
  return {
    seed,
    events,
    ...(universe === undefined ? {} : { symbols: universe }),
    day: Feeds.simulatorModel({ seed, eventsPerSymbolPerDay: events }).startDate,
    partitions: options.partitions.value,
    group: options.group,
    topics: [...topics].sort()
  }
}

const EmbeddedRunJson = Schema.fromJsonString(Schema.Struct({
  seed: Schema.Number,
  events: Schema.Number,
  /** The flag that gave the universe; absent for the default (and in the records of a K2 from before the flag). */
  symbols: Schema.optionalKey(Schema.String),
  day: Schema.String,
  partitions: Schema.Number,
  group: Schema.String,
  topics: Schema.Array(Schema.String)
}))

const EMBEDDED_RUN_FILE = "embedded-run.json"

// The topics are always the simulator's (the command checks): recorded, compared, not shown.
const describeRun = (r: typeof EmbeddedRunJson.Type) =>
  `--seed ${r.seed} --events ${r.events}${r.symbols === undefined ? "" : ` ${cutSymbols(r.symbols)}`} --partitions ${r.partitions} ` +
  `--group ${r.group} (simulated day ${r.day})`

/** A long --symbols list shown by its start and count: a refusal names two runs on a line or two. */
const cutSymbols = (setting: string) => {
  const n = setting.split(",").length
  return setting.length <= 120 ? setting : `${setting.slice(0, 100)}… (${n} symbols)`
}

const sameRun = (a: typeof EmbeddedRunJson.Type, b: typeof EmbeddedRunJson.Type) =>
  describeRun(a) === describeRun(b) && a.symbols === b.symbols && a.topics.join() === b.topics.join()

class EmbeddedRunFileFailed extends Schema.TaggedError<EmbeddedRunFileFailed>()("EmbeddedRunFileFailed", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `cannot read or write the embedded run's settings ${this.path}: ${this.detail.replace(/\s+/g, " ")}`
  }
}

const embeddedRunFile = (options: Pick<EmbeddedRunSettings, "warehouse">) => path.join(path.resolve(options.warehouse), EMBEDDED_RUN_FILE)

const embeddedRunIo = <A>(options: Pick<EmbeddedRunSettings, "warehouse">, f: () => A) =>
  Effect.try({ try: f, catch: (e) => new EmbeddedRunFileFailed({ path: embeddedRunFile(options), detail: (e as Error).message }) })

/** The embedded run the warehouse records, if any. */
export const recordedEmbeddedRun = (options: Pick<EmbeddedRunSettings, "warehouse">) =>
  embeddedRunIo(options, () => {
    const file = embeddedRunFile(options)
    if (!fs.existsSync(file)) return undefined
    const text = fs.readFileSync(file, "utf8")
    try {
      return Schema.decodeUnknownSync(EmbeddedRunJson)(text)
    } catch (e) {
      // Edited, or another version's: removing it is safe, as tables holding markers without a record are refused.
      throw new Error(`${(e as Error).message}; not a record this K2 wrote: remove it (tables holding ingested data are then refused, never mixed)`)
    }
  })

/** A usage error, exit 2: the settings given do not fit this warehouse. */
export const refuseWarehouse = (options: Pick<EmbeddedRunSettings, "warehouse">, detail: string) => Effect.fail(new UsageError({ message: `${path.resolve(options.warehouse)}: ${detail}` }))

/** The tables that hold a marker of `group`: what it has ingested there. */
export const tablesWithMarkers = (group: string) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    return yield* Effect.filter(["trades", "quotes", "instruments", "sequence_events"] satisfies ReadonlyArray<TableName>, (table) =>
      Effect.gen(function*() {
        const id = identifierOf(table)
        return (yield* catalog.tableExists(id)) && (yield* markerOf((yield* catalog.loadTable(id)).metadata, group, table)) !== undefined
      }))
  })

/**
 * Before anything is written (the warehouse held): the run recorded in the warehouse must be this
 * one, unless it committed nothing (it failed or was stopped first: no marker of its group); the
 * tables must hold no marker of this run's group that no embedded run recorded (a live run's,
 * whose offsets would skip this run's records); then this run is recorded.
 */
export const claimEmbeddedRun = (
  options: EmbeddedRunSettings,
  simulator: SimulatorRun,
  topics: ReadonlyArray<string>,
  symbols: ReadonlyArray<string> | undefined
) =>
  Effect.gen(function*() {
    const file = embeddedRunFile(options)
    const wanted = embeddedRunOf(options, simulator, topics, symbols)
    const refuse = (detail: string) => refuseWarehouse(options, detail)
    const recorded = yield* recordedEmbeddedRun(options)
    if (recorded !== undefined && sameRun(recorded, wanted)) return
    if (recorded !== undefined && (yield* tablesWithMarkers(recorded.group)).length > 0) {
      return yield* refuse(
        `holds the embedded run ${describeRun(recorded)}; this run, ${describeRun(wanted)}, would mix with it ` +
          `(its records below that run's markers would be skipped as already ingested). Run with that run's settings ` +
          `to resume it (nothing is ingested twice), or give another --warehouse.`
      )
    }
    // A live run's group on the simulated topics: this day would go into its tables beside that feed.
    const others = yield* othersTopics(options.group, topics)
    if (others.length > 0) {
      return yield* refuse(`other groups have ingested this run's topics here: ${describeOthers(others)}; the simulated day would be written beside them. Give another --warehouse.`)
    }
    const marked = yield* tablesWithMarkers(options.group)
    if (marked.length > 0) {
      return yield* refuse(
        `${marked[0]} holds markers of group ${options.group} but no embedded run recorded its settings here (a --brokers run wrote them, or a K2 from before the record): ` +
          `the embedded run, ${describeRun(wanted)}, would skip its records below them. Give another --warehouse.`
      )
    }
    // Whole or not at all: a file cut short would refuse every later run.
    yield* embeddedRunIo(options, () => {
      fs.writeFileSync(`${file}.${process.pid}`, `${JSON.stringify(wanted, null, 1)}\n`)
      fs.renameSync(`${file}.${process.pid}`, file)
    })
  })

/** Forgets the warehouse's embedded run (none recorded: nothing to do). */
export const removeEmbeddedRun = (options: Pick<EmbeddedRunSettings, "warehouse">) => embeddedRunIo(options, () => fs.rmSync(embeddedRunFile(options), { force: true }))
