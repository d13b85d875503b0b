/**
 * kafkajs' own log (KAFKAJS_LOG_LEVEL=info or debug, for a broker problem) goes to stderr: its
 * info and debug entries went through console.info and console.log, to stdout, into the NDJSON
 * of `replay --follow` and the other programs' results.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import kafkajs from "kafkajs"
import { layerKafkajs } from "../../../src/layers/kafka/kafkajs.ts"
import { KafkaSink } from "../../../src/services/KafkaSink.ts"
import { prototypeStubs } from "../../support/prototypeStubs.ts"

const stub = prototypeStubs()

/** The client the layer made, its admin and producer faked (no broker is reached). */
const clientOf = (options: { readonly clientError?: (message: string) => void }) =>
  Effect.gen(function*() {
    const proto = kafkajs.Kafka.prototype as unknown as Record<string, unknown>
    let client: kafkajs.Kafka | undefined
    for (const name of ["admin", "producer"] as const) {
      stub(proto, name, function(this: kafkajs.Kafka) {
        client = this
        return { connect: async () => {}, disconnect: async () => {} }
      })
    }
    yield* Effect.scoped(Effect.provide(Effect.asVoid(KafkaSink), layerKafkajs({ brokers: ["127.0.0.1:1"], logLevel: kafkajs.logLevel.DEBUG, ...options })))
    return client!
  })

/**
 * What `log` sends to stdout and to stderr. console's methods are watched too: under vitest they
 * do not reach process.stdout and process.stderr; in a program log and info write to stdout.
 */
const written = (log: () => void) => {
  const out = { stdout: "", stderr: "" }
  const to = (stream: "stdout" | "stderr") => (...args: ReadonlyArray<unknown>) => {
    out[stream] += `${args.map(String).join(" ")}\n`
    return true
  }
  const watched = [
    [process.stdout, "write", "stdout"],
    [process.stderr, "write", "stderr"],
    [console, "log", "stdout"],
    [console, "info", "stdout"],
    [console, "debug", "stdout"],
    [console, "warn", "stderr"],
    [console, "error", "stderr"]
  ] as const
  const before = watched.map(([target, name]) => (target as unknown as Record<string, unknown>)[name])
  for (const [target, name, stream] of watched) (target as unknown as Record<string, unknown>)[name] = to(stream)
  try {
    log()
  } finally {
    watched.forEach(([target, name], i) => void ((target as unknown as Record<string, unknown>)[name] = before[i]))
  }
  return out
}

describe("kafkajs layer, its log", () => {
  for (const [name, options] of [["with a clientError", { clientError: () => {} }], ["without one", {}]] as const) {
    it.effect(`every level goes to stderr, none to stdout (${name})`, () =>
      Effect.gen(function*() {
        const logger = (yield* clientOf(options)).logger()
        const out = written(() => {
          logger.debug("a debug entry")
          logger.info("an info entry")
          logger.warn("a warn entry")
          logger.error("an error entry")
        })
        assert.strictEqual(out.stdout, "")
        for (const entry of ["a debug entry", "an info entry", "a warn entry", "an error entry"]) assert.include(out.stderr, entry)
      }))
  }
})
