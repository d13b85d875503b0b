/**
 * `npm run produce` refuses bad options before it touches Kafka: one line saying what is wrong,
 * exit code 2, as the other programs do.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"

/** An (empty) ASX load directory `<dir>/load`: --dir refuses a directory without company_info.csv. */
const loadDir = (dir: string) => {
  fs.mkdirSync(path.join(dir, "load", "reference-data"), { recursive: true })
  fs.writeFileSync(path.join(dir, "load", "reference-data", "company_info.csv"), "company_id,symbol,company_name,ISIN,start_date,end_date\n")
}

const refused = (args: ReadonlyArray<string>, says: string) =>
  Effect.gen(function*() {
    const run = spawnProgram("produce", [...args])
    assert.strictEqual(yield* Effect.promise(() => run.exited), 2, run.output())
    assert.include(run.output(), says)
    assert.notInclude(run.output(), "    at ", "no stack trace")
  })

describe.concurrent("npm run produce, bad options", () => {
  it.effect("a fault injection that is not <fault>=<rate 0..1>", () =>
    refused(["--brokers", "127.0.0.1:1", "--inject", "gap=2"], `--inject: "gap=2" is not`))

  it.effect("a duration without a unit", () =>
    refused(["--brokers", "127.0.0.1:1", "--duration", "30"], `--duration: "30" is not like`))

  it.effect("a duration of 0 (it made the topics and published nothing)", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", "127.0.0.1:1", "--duration", "0s"], `--duration: "0s" is not`)
      yield* refused(["--brokers", "127.0.0.1:1", "--duration", "0.0ms"], `--duration: "0.0ms" is not`)
    }))

  it.effect("ASX files without their directory", () =>
    refused(["--brokers", "127.0.0.1:1", "--source", "asx"], "--source asx needs --dir"))

  it.effect("a fault rate that is not a number", () =>
    refused(["--brokers", "127.0.0.1:1", "--inject", "gap="], `--inject: "gap=" is not`))

  it.effect("a fault injected twice (one rate would be dropped)", () =>
    refused(["--brokers", "127.0.0.1:1", "--inject", "gap=0.1,gap=0.2"], `--inject: gap is given twice`))

  it.effect("a count out of its range", () =>
    refused(["--brokers", "127.0.0.1:1", "--partitions", "0"], "Invalid value for flag --partitions"))

  it.effect("simulator pacing given twice, or given to the ASX files", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", "127.0.0.1:1", "--rate", "10", "--speed", "2"], "give --rate or --speed, not both")
      yield* refused(["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", ".", "--rate", "10"], "--rate: for --source sim only")
    }))

  it.effect("simulator options with defaults given to the ASX files (they were ignored, exit 0)", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", ".", "--events", "5"], "--events: for --source sim only")
      yield* refused(["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", ".", "--exchange", "XNAS", "--seed", "7"], "--exchange, --seed: for --source sim only")
    }))

  // Each refusal's wording: test/programs/cli-symbols.test.ts; here, that the program refuses before Kafka.
  it.effect("a symbol universe that repeats a symbol or counts too many, from a flag or its variable", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", "127.0.0.1:1", "--symbols", "BHP,CBA,BHP"], `--symbols: symbol "BHP" is given twice`)
      yield* refused(["--brokers", "127.0.0.1:1", "--symbol-count", "100001"], "Invalid value for flag --symbol-count")
      const run = spawnProgram("produce", ["--brokers", "127.0.0.1:1"], { K2_SIM_SYMBOLS: "A,A" })
      assert.strictEqual(yield* Effect.promise(() => run.exited), 2, run.output())
      assert.include(run.output(), `K2_SIM_SYMBOLS: symbol "A" is given twice`)
    }))

  it.effect("simulated symbols given to the ASX files (their symbols are the files')", () =>
    refused(["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", ".", "--symbols", "A", "--symbol-count", "2"], "--symbols, --symbol-count: for --source sim only"))

  it.effect("a load directory without --source asx (the simulator's day was published in its place)", () =>
    refused(["--brokers", "127.0.0.1:1", "--dir", "."], "--dir: for --source asx only"))

  it.effect("a dead-letter file for the simulator (it was ignored, exit 0)", () =>
    refused(["--brokers", "127.0.0.1:1", "--dead-letters", "dl.jsonl"], "--dead-letters: for --source asx only"))

  it.effect("resets injected into a one-day run (it injected none, exit 0)", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", "127.0.0.1:1", "--inject", "reset=0.5"], "--inject reset: a reset restarts a symbol's numbering on a new trading day; give --days 2 or more")
      yield* refused(["--brokers", "127.0.0.1:1", "--inject", "reset=0.5", "--days", "1"], "give --days 2 or more (--days 1)")
    }))

  it.effect("an empty broker list (the client would quietly try localhost:9092)", () =>
    refused(["--brokers", ""], "--brokers: \"\" is not a comma-separated list of host:port"))

  it.effect("an exchange code that cannot name topics (exit 2 before Kafka, not a feed failure)", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", "127.0.0.1:1", "--exchange", "a.b"], "--exchange: \"a.b\" must be")
      yield* refused(["--brokers", "127.0.0.1:1", "--exchange", "asx"], "--exchange: \"asx\" must be")
    }))

  it.effect("an empty report or input path (the reconciliation was found unwritable only after publishing)", () =>
    Effect.gen(function*() {
      yield* refused(["--brokers", "127.0.0.1:1", "--reconciliation", ""], "--reconciliation")
      yield* refused(["--brokers", "127.0.0.1:1", "--manifest", ""], "--manifest")
      yield* refused(["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", ""], "--dir")
      yield* refused(["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", ".", "--dead-letters", " "], "--dead-letters")
    }))

  it.effect("more simulated days than there are until 2200 (said as a feed failure, exit 1, after the last report was removed)", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-"))
      const reconciliation = path.join(dir, "reconciliation.json")
      fs.writeFileSync(reconciliation, "{}")
      yield* refused(["--brokers", "127.0.0.1:1", "--days", "100000", "--reconciliation", reconciliation], "--days 100000: sessions must lie between 1900 and 2200")
      assert.isTrue(fs.existsSync(reconciliation), "nothing was touched")
    }))

  it.effect("an ASX directory that is not there (found only once connected, after the topics were made)", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-"))
      yield* refused(["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", path.join(dir, "typo")], `--dir: ${path.join(dir, "typo")} is not a directory`)
      fs.writeFileSync(path.join(dir, "file"), "")
      yield* refused(["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", path.join(dir, "file")], `--dir: ${path.join(dir, "file")} is not a directory`)
      yield* refused(["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", path.join(dir, "file", "sub")], "is not a directory")
    }))

  it.effect("two reports written to one file (the last written replaced the other: the reconciliation, or the ASX dead letters)", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-"))
      loadDir(dir)
      const report = path.join(dir, "report.json")
      fs.writeFileSync(report, "{}")
      yield* refused(
        ["--brokers", "127.0.0.1:1", "--reconciliation", report, "--manifest", path.join(dir, ".", "report.json")],
        "--reconciliation and --manifest name one file"
      )
      yield* refused(
        ["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", path.join(dir, "load"), "--dead-letters", report, "--reconciliation", report],
        "--dead-letters and --reconciliation name one file"
      )
      assert.strictEqual(fs.readFileSync(report, "utf8"), "{}", "nothing was touched")
    }))

  it.effect("no broker", () =>
    refused([], "no Kafka broker configured"))
})

describe.concurrent("npm run produce, failing", () => {
  it.effect("a run that fails leaves no earlier run's reconciliation to pass for its own", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-"))
      const reconciliation = path.join(dir, "reconciliation.json")
      fs.writeFileSync(reconciliation, JSON.stringify({ completed: true, earlier: "run" }))
      // Nothing listens on port 1: the run fails before it publishes anything, once the broker was waited for.
      const run = spawnProgram("produce", ["--brokers", "127.0.0.1:1", "--reconciliation", reconciliation, "--duration", "2s", "--broker-wait", "1"])
      assert.strictEqual(yield* Effect.promise(() => run.exited), 1, run.output())
      assert.match(run.output(), /no Kafka broker answered at 127\.0\.0\.1:1 in the \d+ s since the first attempt/)
      // Replaced by this run's, of nothing sent (ADR-94): before, none was left.
      const report = JSON.parse(fs.readFileSync(reconciliation, "utf8"))
      assert.strictEqual(report.completed, false)
      assert.include(report.failed, "no Kafka broker answered at 127.0.0.1:1")
      assert.isUndefined(report.earlier)
      assert.deepStrictEqual(report.published, {})
    }))

  it.effect("a report path that can never be written is refused as a usage error, touching nothing (it failed the run, exit 1)", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-"))
      loadDir(dir)
      // A directory where the file should go, or a directory that is not there: the report could never be written.
      yield* refused(["--brokers", "127.0.0.1:1", "--reconciliation", dir], `--reconciliation: ${dir} is a directory`)
      const missing = path.join(dir, "typo", "r.json")
      yield* refused(["--brokers", "127.0.0.1:1", "--reconciliation", missing], `--reconciliation: ${missing}: no directory ${path.join(dir, "typo")}`)
      const deadLetters = path.join(dir, "dead")
      fs.mkdirSync(deadLetters)
      const reconciliation = path.join(dir, "r.json")
      fs.writeFileSync(reconciliation, "{}")
      yield* refused(
        ["--brokers", "127.0.0.1:1", "--source", "asx", "--dir", path.join(dir, "load"), "--dead-letters", deadLetters, "--reconciliation", reconciliation],
        `--dead-letters: ${deadLetters} is a directory`
      )
      assert.strictEqual(fs.readFileSync(reconciliation, "utf8"), "{}", "the last run's report is kept")
    }))
})
