/**
 * `npm run replay` of a range (NDJSON on stdout, or `--topic`) in-process over a warehouse whose
 * catalog exists but whose tables ingest has not created (all or one): it answers as GET /v1/replay
 * and `npm run query symbols` do, replaying the tables that exist, naming each missing one on stderr
 * (`not created yet: nothing ingested`), exit 0. Before, it failed `no such table: market_data.trades`.
 */
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Command } from "effect/cli"
import { tradeColumns } from "../../src/domain/rows.ts"
import { tables } from "../../src/domain/tables.ts"
import { layerMemory, MemoryBroker } from "../../src/layers/kafka/memory.ts"
import * as Lakehouse from "../../src/layers/lakehouse.ts"
import { engineOver, replayCommandWith } from "../../src/programs/replay.ts"
import { IcebergSink } from "../../src/services/IcebergSink.ts"
import { capturedCommand } from "../support/capturedCommand.ts"
import { makeTrades } from "../support/fixtures.ts"
import { tempWarehouse, warehouseOptions } from "../support/warehouse.ts"

/** A warehouse whose catalog exists, holding `trades` rows when given (no quotes table either way). */
const warehouse = (trades?: number) =>
  Effect.gen(function*() {
    const dir = tempWarehouse()
    yield* Effect.gen(function*() {
      if (trades === undefined) return
      const sink = yield* IcebergSink
      yield* sink.ensureTable(tables.trades)
      yield* sink.append(tables.trades, tradeColumns(makeTrades({ count: trades, days: 1 })))
    }).pipe(Effect.provide(Lakehouse.layer(warehouseOptions("sqlite", dir))))
    return dir
  })

/** The program in-process over `broker` for --topic: how it ended, its stdout and its stderr. */
const replay = (args: ReadonlyArray<string>, broker = new MemoryBroker()) =>
  capturedCommand(
    Command.runWith(replayCommandWith(engineOver, { kafka: () => layerMemory(broker) }), { version: "0" })(
      ["--from", "2024-01-02", "--to", "2024-01-03", ...args]
    ) as Effect.Effect<void, unknown, NodeServices.NodeServices>
  )

describe("npm run replay of a range, tables not created yet", () => {
  it.effect("none: 0 events on stdout, both named on stderr, exit 0", () =>
    Effect.gen(function*() {
      const dir = yield* warehouse()
      const r = yield* replay(["--warehouse", dir])
      assert.isTrue(Exit.isSuccess(r.exit), `${String(r.exit)}\n${r.stderr}`)
      assert.strictEqual(r.stdout, "")
      assert.include(r.stderr, "market_data.trades, market_data.quotes: not created yet: nothing ingested")
    }), { timeout: 60_000 })

  it.effect("only trades: its events on stdout, quotes named on stderr, exit 0", () =>
    Effect.gen(function*() {
      const dir = yield* warehouse(50)
      const r = yield* replay(["--warehouse", dir])
      assert.isTrue(Exit.isSuccess(r.exit), `${String(r.exit)}\n${r.stderr}`)
      const lines = r.stdout.trim().split("\n")
      assert.strictEqual(lines.length, 50)
      assert.isTrue(lines.every((l) => JSON.parse(l)._tag === "Trade"))
      assert.include(r.stderr, "market_data.quotes: not created yet: nothing ingested")
      assert.notInclude(r.stderr, "market_data.trades")
    }), { timeout: 60_000 })

  it.effect("--topic, none: the topic made, 0 events republished, exit 0", () =>
    Effect.gen(function*() {
      const dir = yield* warehouse()
      const broker = new MemoryBroker()
      const r = yield* replay(["--warehouse", dir, "--topic", "backtest", "--brokers", "localhost:1"], broker)
      assert.isTrue(Exit.isSuccess(r.exit), `${String(r.exit)}\n${r.stderr}`)
      assert.include(r.stdout, "republished 0 events (0 trades, 0 quotes) to backtest")
      assert.strictEqual(broker.endOffset("backtest", 0), 0)
      assert.include(r.stderr, "market_data.trades, market_data.quotes: not created yet: nothing ingested")
    }), { timeout: 60_000 })

  it.effect("--snapshot-id with no table: not found (as the API's 404), not an empty answer", () =>
    Effect.gen(function*() {
      const dir = yield* warehouse()
      const r = yield* replay(["--warehouse", dir, "--snapshot-id", "42"])
      assert.isTrue(Exit.isFailure(r.exit), r.stdout)
      assert.include(String(r.exit), "not one it keeps")
      assert.strictEqual(r.stdout, "")
    }), { timeout: 60_000 })
})
