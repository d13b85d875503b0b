/**
 * `npm run produce`'s options read in-process (test/programs/produce-usage.test.ts runs the program):
 * what --inject takes. Every run here stops at a usage error, before Kafka.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { assert, describe, it } from "@effect/vitest"
import { Console, Deferred, Effect, Exit, Fiber, Layer, Option } from "effect"
import { Command } from "effect/cli"
import { UsageError } from "../../src/programs/cli/common.ts"
import { DrainRecord, drainRecord, failedDrainOf, programExitCode } from "../../src/programs/cli/run.ts"
import { finalLine, ProduceKafkaLayer, produceCommand, resentWarning, StoppedBeforeSending } from "../../src/programs/produce.ts"
import { layerMemory, MemoryBroker } from "../../src/layers/kafka/memory.ts"
import { KafkaAdmin, KafkaSink } from "../../src/services/KafkaSink.ts"
import { BrokersUnreachable, KafkaNotReady } from "../../src/layers/kafka/firstContact.ts"
import { kafkaError, KafkaRejected, KafkaUnavailable, NotAuthorized } from "../../src/services/KafkaSource.ts"

/** The usage error `args` stop at. */
const refusal = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const exit = yield* Command.runWith(produceCommand, { version: "0" })(["--brokers", "127.0.0.1:1", ...args]).pipe(
      Effect.provide(NodeServices.layer),
      Effect.exit
    )
    const error = Exit.isFailure(exit) ? Option.getOrUndefined(Exit.findErrorOption(exit)) : undefined
    assert.instanceOf(error, UsageError, String(error))
    return (error as UsageError).message
  })

/** `file`, a reconciliation of a run that failed before anything was sent, `failed` including `failure`. */
const assertNothingSent = (file: string, failure: string) => {
  const report = JSON.parse(fs.readFileSync(file, "utf8"))
  assert.strictEqual(report.completed, false)
  assert.include(report.failed, failure)
  assert.deepStrictEqual(report.published, {})
  assert.deepStrictEqual(report.totals, { trades: 0, quotes: 0, poison: 0, instruments: 0 })
  assert.strictEqual(report.resent, 0)
  assert.deepStrictEqual(report.underWay, {})
  assert.isUndefined(report.tables)
  return report
}

describe("npm run produce, --inject", () => {
  it.effect("takes every fault at rates 0, 1 and a bare fraction (.5): the run goes on to the next check", () =>
    Effect.gen(function*() {
      // A duration of 0 is the next refusal: --inject was read.
      const message = yield* refusal(["--inject", "gap=0,duplicate=1,outOfOrder=.5,reset=0.25,poison=1.", "--days", "2", "--duration", "0s"])
      assert.include(message, "--duration")
    }))

  it.effect("refuses a fault it does not know (its rate was dropped without a word)", () =>
    Effect.gen(function*() {
      assert.include(yield* refusal(["--inject", "gaps=0.1"]), `--inject: "gaps=0.1" is not <gap|duplicate|outOfOrder|reset|poison>=<rate 0..1>`)
      assert.include(yield* refusal(["--inject", "gap=0.1=2"]), `--inject: "gap=0.1=2" is not`)
    }))

  it.effect("refuses rates that name no fault (an empty --inject ran with none, as if not given)", () =>
    Effect.gen(function*() {
      for (const text of ["", ","]) {
        assert.include(yield* refusal(["--inject", text]), "--inject: no fault given", JSON.stringify(text))
      }
    }))
})

describe("npm run produce --source asx --dir", () => {
  // A --dir one level off (its trades/, or the folder holding it) was found wrong only once connected,
  // after the ASX topics were made, and the last run's reports removed: exit 1, "feed source missing".
  it.effect("refuses a directory without reference-data/company_info.csv before Kafka", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-dir-"))
      fs.mkdirSync(path.join(dir, "trades"))
      const message = yield* refusal(["--source", "asx", "--dir", path.join(dir, "trades"), "--duration", "0s"])
      assert.include(message, `--dir: ${path.join(dir, "trades")} has no reference-data/company_info.csv`)
      // A load directory is taken: the next check (--duration) is what refuses it.
      fs.mkdirSync(path.join(dir, "reference-data"))
      fs.writeFileSync(path.join(dir, "reference-data", "company_info.csv"), "")
      assert.include(yield* refusal(["--source", "asx", "--dir", dir, "--duration", "0s"]), "--duration")
    }))

  // A report path naming one of the load's own files (a slip of the shell's completion) had it removed
  // at the start and replaced at the end: company_info.csv or a company's trades lost. One put in
  // trades/ or quotes/ was listed as a data file, a dead letter of its own.
  it.effect("refuses a report path inside the load's data (company_info.csv, trades/, quotes/), touching nothing", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-inside-"))
      for (const d of ["reference-data", "Trades", "quotes"]) fs.mkdirSync(path.join(dir, d))
      const companyInfo = path.join(dir, "reference-data", "company_info.csv")
      fs.writeFileSync(companyInfo, "company_id,symbol,company_name,ISIN,start_date,end_date\n")
      const trades = path.join(dir, "Trades", "1001.csv")
      fs.writeFileSync(trades, "03/10/2014,10:05:44.516,37.51,100,0,,\n")
      for (
        const [flag, file] of [
          ["--dead-letters", companyInfo],
          ["--reconciliation", trades],
          ["--dead-letters", path.join(dir, "quotes", "rejected.jsonl")],
          ["--reconciliation", path.join(dir, "reference-data", "..", "Trades", "r.json")]
        ] as const
      ) {
        // --duration 0s is refused after the report paths: a path taken is refused for it, touching nothing.
        const message = yield* refusal(["--source", "asx", "--dir", dir, flag, file, "--duration", "0s"])
        assert.include(message, `${flag}: ${file} is one of the load directory's inputs`, message)
      }
      assert.strictEqual(fs.readFileSync(companyInfo, "utf8"), "company_id,symbol,company_name,ISIN,start_date,end_date\n")
      assert.strictEqual(fs.readFileSync(trades, "utf8"), "03/10/2014,10:05:44.516,37.51,100,0,,\n")
      assert.deepStrictEqual(fs.readdirSync(path.join(dir, "quotes")), [])
      // Beside the data, in the load directory itself, is no input: taken (the next check refuses).
      assert.include(yield* refusal(["--source", "asx", "--dir", dir, "--dead-letters", path.join(dir, "dead.jsonl"), "--duration", "0s"]), "--duration")
    }))
})

describe("npm run produce, stopped while connecting", () => {
  // A SIGTERM while the broker did not answer yet exited 0 without a word: nothing sent, no reconciliation.
  it.live("a signal before anything was sent fails the run (exit 1), saying so", () =>
    Effect.gen(function*() {
      // A broker that takes the connection and never answers.
      const connected = yield* Deferred.make<void>()
      const sockets: Array<net.Socket> = []
      const server = net.createServer((socket) => {
        sockets.push(socket)
        Deferred.doneUnsafe(connected, Exit.void)
      })
      yield* Effect.acquireRelease(
        Effect.promise(() => new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))),
        () => Effect.sync(() => (sockets.forEach((s) => s.destroy()), server.close()))
      )
      const port = (server.address() as net.AddressInfo).port
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-stopped-"))
      const record = drainRecord()
      const run = yield* Effect.forkChild(
        Command.runWith(produceCommand, { version: "0" })(["--brokers", `127.0.0.1:${port}`, "--reconciliation", path.join(dir, "r.json")]).pipe(
          Effect.provide(NodeServices.layer),
          Effect.provideService(DrainRecord, record)
        )
      )
      yield* Deferred.await(connected)
      // The signal: the runner interrupts the program.
      yield* Fiber.interrupt(run)
      const exit = yield* Fiber.await(run)
      assert.strictEqual(programExitCode(exit, record), 1)
      const failure = Option.getOrUndefined(failedDrainOf(exit, record))
      assert.instanceOf(failure, StoppedBeforeSending)
      assert.include((failure as StoppedBeforeSending).message, `stopped by a signal while connecting to Kafka (127.0.0.1:${port}) and making the topics, before anything was sent`)
      // A report of nothing sent (ADR-94): before, none, the last run's removed.
      assertNothingSent(path.join(dir, "r.json"), "stopped by a signal while connecting to Kafka")
    }).pipe(Effect.scoped))
})

describe("npm run produce, a signal between two start steps", () => {
  // A signal landing while the run is between two steps (uninterruptible) was pending when the next
  // step began, and interrupted it before its handler was in place: exit 0 without a word.
  it.live("fails the run (exit 1) naming the step it stopped before, nothing sent", () =>
    Effect.gen(function*() {
      for (const [at, step] of [
        ["build", "starting the Kafka client (127.0.0.1:1) and the feed"],
        ["topics", "connecting to Kafka (127.0.0.1:1) and making the topics"]
      ] as const) {
        const broker = new MemoryBroker()
        // The signal, delivered to the run's fiber (the one its stand-in Kafka layer is made in) as the
        // layer is made, in the gap before the client's start, or as its admin's ensureTopics is called
        // (since ADR-94 inside the start's step, attempted again while the broker is down).
        let runFiber: Fiber.Fiber<unknown, unknown> | undefined
        const signal = () => runFiber!.interruptUnsafe()
        const admin = Layer.effect(KafkaAdmin)(Effect.map(KafkaAdmin, (a) => KafkaAdmin.of({ ...a, ensureTopics: (specs) => (signal(), a.ensureTopics(specs)) })))
        const stub = () => {
          runFiber = Fiber.getCurrent()!
          if (at === "build") signal()
          return at === "topics" ? admin.pipe(Layer.provideMerge(layerMemory(broker))) : layerMemory(broker)
        }
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-gap-"))
        const record = drainRecord()
        // In a fiber of its own, as the runner's: the signal interrupts it, not the test.
        const run = yield* Effect.forkChild(
          Command.runWith(produceCommand, { version: "0" })(["--brokers", "127.0.0.1:1", "--reconciliation", path.join(dir, "r.json")]).pipe(
            Effect.provide(NodeServices.layer),
            Effect.provideService(DrainRecord, record),
            Effect.provideService(ProduceKafkaLayer, stub)
          )
        )
        const exit = yield* Fiber.await(run)
        assert.strictEqual(programExitCode(exit, record), 1, at)
        const failure = Option.getOrUndefined(failedDrainOf(exit, record))
        assert.instanceOf(failure, StoppedBeforeSending, at)
        assert.strictEqual((failure as StoppedBeforeSending).message, `stopped by a signal while ${step}, before anything was sent`)
        assertNothingSent(path.join(dir, "r.json"), `stopped by a signal while ${step}`)
        // Stopped as the topics are made, they may be: nothing is sent to them.
        if (at === "build") assert.deepStrictEqual([...broker.topics.keys()], [], `${at}: nothing made, nothing sent`)
        assert.deepStrictEqual([...broker.topics.values()].flatMap((t) => t.partitions.flat()), [], `${at}: nothing sent`)
      }
    }))
})

describe("npm run produce --help", () => {
  it.effect("names each option's variable and default", () =>
    Effect.gen(function*() {
      const printed: Array<string> = []
      const capture: Console.Console = Object.assign(Object.create(console), {
        log: (...a: Array<unknown>) => void printed.push(a.join(" "))
      })
      yield* Command.runWith(produceCommand, { version: "0" })(["--help"]).pipe(
        Effect.provide(NodeServices.layer),
        Effect.provideService(Console.Console, capture)
      )
      const help = printed.join("\n").replace(/\s+/g, " ")
      assert.include(help, "(env K2_TOPIC_PARTITIONS; 1..10000; default 12)")
      assert.include(help, "comma separated (env K2_KAFKA_BROKERS)")
      assert.include(help, "(default produce-reconciliation.json)")
    }))
})

describe("npm run produce, its last line", () => {
  const summary = (deadLetters: { rows: number; companyInfo: number; files: number }) => ({
    source: "asx",
    complete: true,
    rowsRead: 26,
    instruments: 2,
    trades: 14,
    quotes: 5,
    poison: 0,
    deadLettered: deadLetters.rows + deadLetters.companyInfo + deadLetters.files,
    deadLetters,
    bySymbol: {}
  })
  const totals = { instruments: 2, trades: 14, quotes: 5, poison: 0 }
  // It said "dead-lettered 9" without where they went (--dead-letters), nor why read 26 was not
  // trades 14 + quotes 5 + 9: two of the dead letters were no data rows.
  it("names the dead-letter file and what the dead letters are when there are any", () => {
    assert.strictEqual(
      finalLine(summary({ rows: 7, companyInfo: 1, files: 1 }), totals, { reconciliation: "r.json", deadLetters: "out/dl.jsonl" }),
      "read 26, published instruments 2, trades 14, quotes 5, poison 0, " +
        "dead-lettered 9 (7 rows, 1 company_info row, 1 file) in out/dl.jsonl; reconciliation in r.json"
    )
    assert.include(
      finalLine(summary({ rows: 1, companyInfo: 0, files: 2 }), totals, { reconciliation: "r.json", deadLetters: "dl.jsonl" }),
      "dead-lettered 3 (1 row, 2 files) in dl.jsonl; "
    )
    assert.include(
      finalLine(summary({ rows: 0, companyInfo: 2, files: 0 }), totals, { reconciliation: "r.json", deadLetters: "dl.jsonl" }),
      "dead-lettered 2 (2 company_info rows) in dl.jsonl; "
    )
    assert.include(
      finalLine(summary({ rows: 0, companyInfo: 0, files: 0 }), totals, { reconciliation: "r.json", deadLetters: "dl.jsonl" }),
      "dead-lettered 0; reconciliation in r.json"
    )
    // The simulator has no dead-letter file.
    assert.include(finalLine({ ...summary({ rows: 0, companyInfo: 0, files: 0 }), source: "simulator" }, totals, { reconciliation: "r.json" }), "dead-lettered 0; reconciliation in r.json")
  })
})

describe("npm run produce, records sent again", () => {
  // kafkajs keeps the sequences of a request that failed only: a send's request already acknowledged
  // (another broker's partitions, a send cut under max.message.bytes) goes again under new ones. The
  // warning said the broker wrote each once.
  it("says with either client that the topics may hold some of them twice", () => {
    for (const client of ["kafkajs", "platformatic"]) {
      const warning = resentWarning(600, client)
      assert.include(warning, "600 records sent again", client)
      assert.include(warning, "in the topics twice", client)
      assert.notInclude(warning, "wrote each once", client)
    }
  })
})

describe("npm run produce, a send Kafka refuses mid-run", () => {
  // A failed run wrote no reconciliation: only its log line said how many events Kafka had acknowledged.
  it.live("fails (exit 1) and writes a reconciliation marked failed: per symbol what the topics hold, the records under way, no tables", () =>
    Effect.gen(function*() {
      const broker = new MemoryBroker()
      // Each send's record count: how many a send holds depends on the publisher's batching and the
      // machine's pace (not always 1,000), so the expected figures are the sends' own.
      const sizes: Array<number> = []
      const refusingThird = Layer.effect(KafkaSink)(Effect.map(KafkaSink, (sink) =>
        KafkaSink.of({
          ...sink,
          send: (records) => {
            sizes.push(records.length)
            return sizes.length === 3 ? Effect.fail(kafkaError(new KafkaRejected({ operation: "send", detail: "TOPIC_AUTHORIZATION_FAILED" }))) : sink.send(records)
          }
        })))
      const stub = () => refusingThird.pipe(Layer.provideMerge(layerMemory(broker)))
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-failed-"))
      const file = path.join(dir, "r.json")
      // An earlier run's report: it must not pass for this one's.
      fs.writeFileSync(file, JSON.stringify({ completed: true, published: {} }))
      const record = drainRecord()
      const exit = yield* Command.runWith(produceCommand, { version: "0" })(["--brokers", "127.0.0.1:1", "--reconciliation", file, "--events", "500", "--partitions", "1"]).pipe(
        Effect.provide(NodeServices.layer),
        Effect.provideService(DrainRecord, record),
        Effect.provideService(ProduceKafkaLayer, stub),
        Effect.exit
      )
      assert.strictEqual(programExitCode(exit, record), 1)
      const report = JSON.parse(fs.readFileSync(file, "utf8"))
      assert.strictEqual(report.completed, false)
      assert.include(report.failed, "TOPIC_AUTHORIZATION_FAILED")
      assert.isUndefined(report.tables)
      const held: Record<string, Record<string, number>> = {}
      for (const topic of broker.topics.values()) {
        const type = topic.name.startsWith("reference.instruments.") ? "instruments" : topic.name.includes(".trades.") ? "trades" : "quotes"
        for (const r of topic.partitions.flat()) {
          const c = held[r.key!] ?? (held[r.key!] = { trades: 0, quotes: 0, poison: 0, instruments: 0 })
          c[type]!++
        }
      }
      assert.deepStrictEqual(report.published, held)
      const sum = (counts: Record<string, Record<string, number>>) => Object.values(counts).reduce((n, c) => n + c.trades! + c.quotes! + c.poison! + c.instruments!, 0)
      assert.strictEqual(sizes.length, 3, "the run stops sending at the refused send")
      assert.strictEqual(sum(report.published), sizes[0]! + sizes[1]!)
      assert.strictEqual(sum(report.underWay), sizes[2]!)
      assert.strictEqual(report.totals.trades + report.totals.quotes + report.totals.instruments + report.totals.poison, sizes[0]! + sizes[1]!)
      assert.strictEqual(report.resent, 0)
    }))
})

describe("npm run produce, a broker down at its start", () => {
  const refused = () => kafkaError(new KafkaUnavailable({ operation: "listTopics", detail: "connect ECONNREFUSED 127.0.0.1:1" }))
  /**
   * `produce` over a memory broker whose client fails as a broker down does: attempt n (from 1) of
   * building the client fails with `build(n)`, of making the topics with `topics(n)`, when given.
   */
  const run = (
    args: ReadonlyArray<string>,
    faults: { readonly build?: (n: number) => unknown; readonly topics?: (n: number) => unknown; readonly ensure?: (n: number) => unknown }
  ) =>
    Effect.gen(function*() {
      const broker = new MemoryBroker()
      const counts = { builds: 0, closed: 0, topics: 0 }
      const stub = () =>
        Layer.effect(KafkaAdmin)(Effect.gen(function*() {
          const admin = yield* KafkaAdmin
          const failure = faults.build?.(counts.builds + 1)
          counts.builds++
          if (failure !== undefined) return yield* Effect.fail(failure as never)
          yield* Effect.addFinalizer(() => Effect.sync(() => void counts.closed++))
          // `topics(n)`: the broker down at attempt n's first request (its topics listed); `ensure(n)`: the
          // broker answering that, and its topics then failing to be made.
          return KafkaAdmin.of({
            ...admin,
            listTopics: () =>
              Effect.suspend(() => {
                counts.topics++
                const failure = faults.topics?.(counts.topics)
                return failure === undefined ? admin.listTopics() : Effect.fail(failure as never)
              }),
            ensureTopics: (specs) =>
              Effect.suspend(() => {
                const failure = faults.ensure?.(counts.topics)
                return failure === undefined ? admin.ensureTopics(specs) : Effect.fail(failure as never)
              })
          })
        })).pipe(Layer.provideMerge(layerMemory(broker)))
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-down-"))
      const file = path.join(dir, "r.json")
      // An earlier run's report: it must not pass for this one's.
      fs.writeFileSync(file, JSON.stringify({ completed: true, published: {} }))
      // The program's logger writes to stderr (JSON lines: not a terminal), as its own layer says.
      const logged: Array<string> = []
      const write = process.stderr.write
      const record = drainRecord()
      const started = Date.now()
      const exit = yield* Effect.acquireUseRelease(
        Effect.sync(() => {
          process.stderr.write = ((chunk: string | Uint8Array, ...rest: Array<never>) => {
            logged.push(...String(chunk).split("\n").filter((l) => l.length > 0))
            return write.call(process.stderr, chunk, ...rest)
          }) as typeof process.stderr.write
        }),
        () =>
          Command.runWith(produceCommand, { version: "0" })(["--brokers", "127.0.0.1:1", "--reconciliation", file, "--partitions", "1", ...args]).pipe(
            Effect.provide(NodeServices.layer),
            Effect.provideService(DrainRecord, record),
            Effect.provideService(ProduceKafkaLayer, stub),
            Effect.exit
          ),
        () => Effect.sync(() => void (process.stderr.write = write))
      )
      return { exit, code: programExitCode(exit, record), seconds: (Date.now() - started) / 1000, broker, counts, file, logged }
    })

  /** The records the memory broker's topics hold. */
  const held = (broker: MemoryBroker) => [...broker.topics.values()].reduce((n, t) => n + t.partitions.flat().length, 0)

  // It failed at once: `kafka unavailable during listTopics: ... ECONNREFUSED`, exit 1, no reconciliation.
  it.live("waits for it within --broker-wait, saying so, and publishes once it answers (the client built again)", () =>
    Effect.gen(function*() {
      const r = yield* run(["--events", "200", "--broker-wait", "30"], {
        // Down at the first attempt's connect (kafkajs connects as its client is built), then at its topics.
        build: (n) => n === 1 ? refused() : undefined,
        topics: (n) => n === 1 ? refused() : undefined
      })
      assert.strictEqual(r.code, 0, String(r.exit))
      assert.deepStrictEqual({ builds: r.counts.builds, topics: r.counts.topics }, { builds: 3, topics: 2 })
      // The failed attempt's client was closed, the run's after the report.
      assert.strictEqual(r.counts.closed, 2)
      const waits = r.logged.filter((l) => l.includes("waiting for Kafka"))
      assert.strictEqual(waits.length, 2, r.logged.join("\n"))
      for (const line of waits) {
        const { level, message } = JSON.parse(line)
        assert.strictEqual(level, "warn")
        assert.match(message, /^waiting for Kafka at 127\.0\.0\.1:1 \(not reached yet: \d+ s, giving up at 30 s\): kafka unavailable during listTopics: connect ECONNREFUSED/)
      }
      const report = JSON.parse(fs.readFileSync(r.file, "utf8"))
      assert.strictEqual(report.completed, true)
      const sum = report.totals.trades + report.totals.quotes + report.totals.instruments + report.totals.poison
      assert.isAbove(sum, 0)
      assert.strictEqual(held(r.broker), sum)
    }), 30_000)

  it.live("fails past --broker-wait (exit 1) naming the brokers and the setting, writing a report of nothing sent", () =>
    Effect.gen(function*() {
      const r = yield* run(["--broker-wait", "2"], { topics: () => refused() })
      assert.strictEqual(r.code, 1)
      const failure = Option.getOrUndefined(Exit.findErrorOption(r.exit))
      assert.instanceOf(failure, BrokersUnreachable, String(r.exit))
      const message = (failure as BrokersUnreachable).message
      assert.include(message, "no Kafka broker answered at 127.0.0.1:1 in the 2 s")
      assert.include(message, "kafka unavailable during listTopics: connect ECONNREFUSED")
      assert.include(message, "--broker-wait (K2_KAFKA_BROKER_WAIT_SECONDS)")
      assert.isAtLeast(r.seconds, 1.9)
      assert.isBelow(r.seconds, 10)
      const report = assertNothingSent(r.file, "no Kafka broker answered at 127.0.0.1:1")
      assert.strictEqual(report.feed.rowsRead, 0)
      assert.strictEqual(held(r.broker), 0)
      assert.strictEqual(r.counts.closed, r.counts.builds, "every attempt's client closed")
    }), 30_000)

  it.live("a fault that does not pass (authorization) fails at once, as before, with a report of nothing sent", () =>
    Effect.gen(function*() {
      const refusal = kafkaError(new NotAuthorized({ operation: "createTopics", code: "TOPIC_AUTHORIZATION_FAILED", resource: "topic market.equities.trades.asx", needs: "CREATE", principal: "User:k2" }))
      const r = yield* run(["--broker-wait", "30"], { topics: () => refusal })
      assert.strictEqual(r.code, 1)
      assert.strictEqual(r.counts.topics, 1)
      assert.isBelow(r.seconds, 2)
      assert.deepStrictEqual(r.logged.filter((l) => l.includes("waiting for Kafka")), [])
      assertNothingSent(r.file, "TOPIC_AUTHORIZATION_FAILED")
    }), 30_000)

  // A broker that answers but whose topics cannot be made yet (its controller or leaders not ready) ended
  // with ingest's wording for a wrong address, "no Kafka broker answered at ... Check the address".
  it.live("a broker that answers while the topics keep failing past --broker-wait: the failure says what failed, not the address", () =>
    Effect.gen(function*() {
      const notLed = kafkaError(new KafkaUnavailable({ operation: "createTopics", detail: "timed out waiting for the leaders of market.equities.trades.asx" }))
      const r = yield* run(["--broker-wait", "2"], { ensure: () => notLed })
      assert.strictEqual(r.code, 1)
      const failure = Option.getOrUndefined(Exit.findErrorOption(r.exit))
      assert.instanceOf(failure, KafkaNotReady, String(r.exit))
      const message = (failure as KafkaNotReady).message
      assert.notInclude(message, "no Kafka broker answered")
      assert.notInclude(message, "Check the address")
      assert.include(message, "Kafka answered at 127.0.0.1:1, but the start still failed 2 s after the first attempt")
      assert.include(message, notLed.message)
      assert.include(message, "--broker-wait (K2_KAFKA_BROKER_WAIT_SECONDS)")
      const waits = r.logged.filter((l) => l.includes("waiting for Kafka"))
      assert.isAbove(waits.length, 0)
      for (const line of waits) assert.notInclude(JSON.parse(line).message, "not reached yet")
      assertNothingSent(r.file, "Kafka answered at 127.0.0.1:1")
      assert.strictEqual(r.counts.closed, r.counts.builds, "every attempt's client closed")
    }), 30_000)

  // A report that could never be written (its directory missing, a directory in its place) failed the
  // run, exit 1, once the last run's reconciliation was replaced (one of nothing sent), where --dir and
  // --warehouse refuse a path that can never be one as a usage error, exit 2, touching nothing.
  it.live("a report path that can never be written is a usage error naming its flag, exit 2, the last run's report kept", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-produce-paths-"))
      fs.writeFileSync(path.join(dir, "file"), "")
      const missing = path.join(dir, "no-such-dir", "m.json")
      for (
        const [args, says] of [
          [["--manifest", missing], `--manifest: ${missing}: no directory ${path.join(dir, "no-such-dir")}`],
          [["--manifest", path.join(dir, "file", "m.json")], `--manifest: ${path.join(dir, "file", "m.json")}: ${path.join(dir, "file")} is not a directory`],
          [["--manifest", dir], `--manifest: ${dir} is a directory`]
        ] as const
      ) {
        const r = yield* run(args, {})
        assert.strictEqual(r.code, 2, String(r.exit))
        const error = Option.getOrUndefined(Exit.findErrorOption(r.exit))
        assert.strictEqual((error as { message?: string } | undefined)?.message?.startsWith(says), true, String(r.exit))
        assert.deepStrictEqual(JSON.parse(fs.readFileSync(r.file, "utf8")), { completed: true, published: {} }, "the last run's report is kept")
        assert.strictEqual(r.counts.builds, 0, "nothing connected")
      }
    }), 30_000)
})
