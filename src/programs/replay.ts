/**
 * `npm run replay -- --from ... --to ... [--symbols A,B] [--speed 10]`: replays trades and
 * quotes in exchange-time order as NDJSON on stdout (decimals as exact strings, instants as
 * ISO-8601 with microseconds). Republishing to a Kafka topic comes with the Kafka services.
 */
import { Effect, Layer, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { formatIsoMicros } from "../domain/time.ts"
import * as ReplayLayer from "../layers/replay/engine.ts"
import { type ReplayEvent, ReplayEngine } from "../services/ReplayEngine.ts"
import {
  asOfFlag,
  fromFlag,
  jsonReplacer,
  lakehouseFromEnv,
  parseInstant,
  snapshotIdFlag,
  snapshotOf,
  splitList,
  symbolsFlag,
  toFlag,
  usage
} from "./cli/common.ts"
import { runCommand } from "./cli/run.ts"

const line = (e: ReplayEvent) =>
  JSON.stringify(
    { ...e, exchange_timestamp: formatIsoMicros(e.exchange_timestamp), ingestion_timestamp: formatIsoMicros(e.ingestion_timestamp) },
    jsonReplacer
  )

const replay = Command.make("replay", {
  symbols: symbolsFlag,
  from: fromFlag,
  to: toFlag,
  tables: Flag.String("tables").pipe(Flag.withDescription("trades, quotes or both (comma-separated)"), Flag.withDefault("trades,quotes")),
  speed: Flag.Finite("speed").pipe(Flag.withDescription("Multiple of real time (1 = real time); absent: as fast as possible"), Flag.optional),
  windowRows: Flag.Int("window-rows").pipe(Flag.withDescription("Rows DuckDB sorts at once (memory bound)"), Flag.optional),
  snapshotId: snapshotIdFlag,
  asOf: asOfFlag
}, (a) =>
  usage(() => {
    const snapshot = snapshotOf(a.snapshotId, a.asOf)
    const request = {
      symbols: splitList(a.symbols),
      from: parseInstant("from", a.from),
      to: parseInstant("to", a.to),
      tables: splitList(a.tables) as Array<"trades" | "quotes">,
      ...(snapshot === undefined ? {} : { snapshot }),
      ...(a.speed._tag === "Some" ? { pace: { _tag: "Paced" as const, speed: a.speed.value } } : {}),
      ...(a.windowRows._tag === "Some" ? { windowRows: a.windowRows.value } : {})
    }
    return Effect.gen(function*() {
      const engine = yield* ReplayEngine
      yield* Stream.runForEachArray(engine.stream(request), (events) =>
        Effect.sync(() => {
          let text = ""
          for (const e of events) text += `${line(e)}\n`
          process.stdout.write(text)
        }))
    })
  })).pipe(Command.withDescription(
    "Replay trades and quotes in (exchange_timestamp, source_sequence) order as NDJSON (env: K2_WAREHOUSE, K2_CATALOG or K2_CATALOG_URL)"
  ))

const layer = ReplayLayer.layer.pipe(Layer.provideMerge(lakehouseFromEnv))

runCommand(replay, layer)
