/**
 * The embedded default publishes its day into an in-process log whose offsets start at 0 every
 * run, and the tables' markers say which offsets are in: a run with other settings on the same
 * warehouse would skip its records below the first run's markers and write the rest, a mix of two
 * days. It is refused before anything is written, and so is a warehouse whose markers of the
 * group no embedded run recorded (a live run's), and a live run as the embedded day's group.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { holdWarehouse } from "../../src/programs/cli/warehouseLock.ts"
import { checkTables } from "../support/ingestHarness.ts"
import { spawnProgram, written } from "../support/programs.ts"
import { warehouseOptions } from "../support/warehouse.ts"

const run = (warehouse: string, args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const p = spawnProgram("ingest", ["--warehouse", warehouse, "--partitions", "1", ...args], env)
    return { code: yield* Effect.promise(() => p.exited), out: p.output() }
  })

/**
 * Leaves in `warehouse` the record of an embedded run (`args`) that committed nothing, as one that
 * failed or was stopped before its first commit does: the record a finished run elsewhere wrote,
 * beside no table.
 */
const recordedBeforeCommit = (warehouse: string, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const elsewhere = warehouseOptions("sqlite").warehouse
    const done = yield* run(elsewhere, args)
    assert.strictEqual(done.code, 0, done.out)
    fs.mkdirSync(warehouse, { recursive: true })
    fs.copyFileSync(path.join(elsewhere, "embedded-run.json"), path.join(warehouse, "embedded-run.json"))
  })

describe("npm run ingest (embedded default) on a warehouse an earlier run wrote", () => {
  it.effect("another --seed or --events is refused (exit 2) and the tables keep the first run alone", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const scenario = { exchange: "ASX", group: "k2-ingest", partitions: 1, options }
      const first = yield* run(options.warehouse, ["--seed", "1", "--events", "40"])
      assert.strictEqual(first.code, 0, first.out)
      const before = yield* checkTables(scenario)
      // Else "the tables keep the first run alone" and "nothing is written twice" hold of empty tables.
      assert.isAbove(before.trades.rows, 0, first.out)
      assert.isAbove(before.quotes.rows, 0, first.out)

      const seed = yield* run(options.warehouse, ["--seed", "2", "--events", "80"])
      assert.strictEqual(seed.code, 2, seed.out)
      assert.include(seed.out, "--seed 1 --events 40")
      assert.include(seed.out, "--seed 2 --events 80")
      assert.include(seed.out, "another --warehouse")
      assert.deepStrictEqual(yield* checkTables(scenario), before)

      const events = yield* run(options.warehouse, ["--seed", "1", "--events", "80"])
      assert.strictEqual(events.code, 2, events.out)
      assert.deepStrictEqual(yield* checkTables(scenario), before)

      // The first run's settings still resume it: nothing is written twice.
      const same = yield* run(options.warehouse, ["--seed", "1", "--events", "40"])
      assert.strictEqual(same.code, 0, same.out)
      assert.deepStrictEqual(yield* checkTables(scenario), before)
    }), 120_000)

  it.effect("--symbols ingests those symbols' day; another universe is refused (exit 2), the same one resumes", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const scenario = { exchange: "ASX", group: "k2-ingest", partitions: 1, options }
      const first = yield* run(options.warehouse, ["--events", "20", "--symbols", "AAA,BBB"])
      assert.strictEqual(first.code, 0, first.out)
      assert.match(first.out, /^\s*instruments written\s+2$/m)
      const before = yield* checkTables(scenario)
      assert.isAbove(before.trades.rows + before.quotes.rows, 0, first.out)
      // About 20 events a symbol (a Poisson day): two symbols' worth, not the default twenty's ~400.
      assert.isBelow(before.trades.rows + before.quotes.rows, 100, first.out)

      const other = yield* run(options.warehouse, ["--events", "20", "--symbol-count", "2"])
      assert.strictEqual(other.code, 2, other.out)
      assert.include(other.out, "--symbols AAA,BBB")
      assert.include(other.out, "--symbol-count 2")
      const defaults = yield* run(options.warehouse, ["--events", "20"])
      assert.strictEqual(defaults.code, 2, defaults.out)
      assert.deepStrictEqual(yield* checkTables(scenario), before)

      const same = yield* run(options.warehouse, ["--events", "20"], { K2_SIM_SYMBOLS: "AAA,BBB" })
      assert.strictEqual(same.code, 0, same.out)
      assert.deepStrictEqual(yield* checkTables(scenario), before)
    }), 120_000)

  it.effect("a run that failed before it committed anything does not hold the warehouse to its settings", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      yield* recordedBeforeCommit(options.warehouse, ["--seed", "1", "--events", "40"])
      const other = yield* run(options.warehouse, ["--seed", "2", "--events", "20"])
      assert.strictEqual(other.code, 0, other.out)
      const scenario = { exchange: "ASX", group: "k2-ingest", partitions: 1, options }
      const after = yield* checkTables(scenario)
      // The second run's settings are the warehouse's now: another is refused.
      const third = yield* run(options.warehouse, ["--seed", "1", "--events", "40"])
      assert.strictEqual(third.code, 2, third.out)
      assert.include(third.out, "--seed 2 --events 20")
      assert.deepStrictEqual(yield* checkTables(scenario), after)
    }), 120_000)

  it.live("a run that failed before it committed anything does not keep a live run of its group off the warehouse", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      yield* recordedBeforeCommit(options.warehouse, ["--events", "20"])
      // No broker listens there: the live run waits for one, unless it is refused first.
      const live = spawnProgram("ingest", ["--warehouse", options.warehouse, "--brokers", "127.0.0.1:1", "--metrics-port", "0"])
      yield* written(live, "ingesting ")
      live.child.kill("SIGTERM")
      yield* Effect.promise(() => live.exited)
      assert.notInclude(live.output(), "embedded default's simulated day", live.output())
      assert.include(live.output(), "as group k2-ingest", live.output())
      // The failed day's record is gone with it: an embedded run of its settings must not take a live run's markers for its own.
      assert.isFalse(fs.existsSync(path.join(options.warehouse, "embedded-run.json")))
    }), 120_000)

  it.live("a live run does not take the record of an embedded run still before its first commit", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      yield* recordedBeforeCommit(options.warehouse, ["--events", "20"])
      // A running embedded run holds the warehouse (here, this process).
      yield* holdWarehouse(options.warehouse)
      const live = yield* run(options.warehouse, ["--brokers", "127.0.0.1:1", "--metrics-port", "0"])
      assert.strictEqual(live.code, 1, live.out)
      assert.include(live.out, `another ingest (pid ${process.pid})`, live.out)
      assert.isTrue(fs.existsSync(path.join(options.warehouse, "embedded-run.json")))
    }).pipe(Effect.scoped), 120_000)

  it.effect("a record that cannot be read is said on one line, with what to do", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      fs.mkdirSync(options.warehouse, { recursive: true })
      fs.writeFileSync(path.join(options.warehouse, "embedded-run.json"), "{}")
      const r = yield* run(options.warehouse, ["--events", "20"])
      assert.strictEqual(r.code, 1, r.out)
      const line = r.out.split("\n").find((l) => l.includes("embedded-run.json")) ?? ""
      assert.include(line, `["seed"]`, r.out)
      assert.include(line, "remove it", r.out)
    }), 60_000)

  it.effect("tables holding the group's markers with no embedded run recorded (a live run's) are refused", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const first = yield* run(options.warehouse, ["--events", "20"])
      assert.strictEqual(first.code, 0, first.out)
      // What a live (--brokers) run leaves: the group's markers in the tables, no embedded run's settings.
      fs.rmSync(path.join(options.warehouse, "embedded-run.json"), { force: true })
      const again = yield* run(options.warehouse, ["--events", "20"])
      assert.strictEqual(again.code, 2, again.out)
      assert.include(again.out, "k2-ingest")
      assert.include(again.out, "another --warehouse")
    }), 120_000)

  it.effect("tables another group ingested the simulated topics into (a live run's) are refused, naming it: the day would be written beside them", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const scenario = { exchange: "ASX", group: "live-feed", partitions: 1, options }
      const first = yield* run(options.warehouse, ["--events", "20", "--group", "live-feed"])
      assert.strictEqual(first.code, 0, first.out)
      // What a live run of group live-feed leaves: its markers in the tables, no embedded run's settings.
      fs.rmSync(path.join(options.warehouse, "embedded-run.json"), { force: true })
      const before = yield* checkTables(scenario)
      const again = yield* run(options.warehouse, ["--events", "20"])
      assert.strictEqual(again.code, 2, again.out)
      assert.include(again.out, "by group live-feed")
      assert.include(again.out, "another --warehouse")
      assert.deepStrictEqual(yield* checkTables(scenario), before, "nothing written")
    }), 120_000)

  it.live("a live run as the embedded day's group is refused before it connects: the day's markers would skip the broker's records", () =>
    Effect.gen(function*() {
      const options = warehouseOptions("sqlite")
      const first = yield* run(options.warehouse, ["--events", "20"])
      assert.strictEqual(first.code, 0, first.out)
      const before = yield* checkTables({ exchange: "ASX", group: "k2-ingest", partitions: 1, options })
      // No broker listens there: the refusal comes first, or the run would wait for one.
      const live = yield* run(options.warehouse, ["--brokers", "127.0.0.1:1", "--metrics-port", "0"])
      assert.strictEqual(live.code, 2, live.out)
      assert.include(live.out, "group k2-ingest")
      assert.include(live.out, "another --warehouse")
      assert.deepStrictEqual(yield* checkTables({ exchange: "ASX", group: "k2-ingest", partitions: 1, options }), before)
      // Another group reads the broker from its own markers: not refused by this check.
      const other = spawnProgram("ingest", ["--warehouse", options.warehouse, "--brokers", "127.0.0.1:1", "--metrics-port", "0", "--group", "other"])
      yield* written(other, "ingesting ")
      other.child.kill("SIGTERM")
      yield* Effect.promise(() => other.exited)
      assert.notInclude(other.output(), "embedded default's simulated day", other.output())
    }), 120_000)
})
