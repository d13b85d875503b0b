/** The logger's records: which annotation names what, what is never overridden, causes, bigints; who sets the level. */
import { assert, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Effect, Layer, Option } from "effect"
import { GlobalFlag } from "effect/cli"
import { loggingLayer } from "../../../src/layers/telemetry/logging.ts"

const capture = () => {
  const lines: Array<string> = []
  return { lines, write: (l: string) => void lines.push(l) }
}

describe("telemetry/logging records", () => {
  it.effect("correlationId (camelCase) is correlation_id too; annotations never replace the record's own fields; bigints are text", () =>
    Effect.gen(function*() {
      const out = capture()
      yield* Effect.logInfo("ready").pipe(
        Effect.annotateLogs({ correlationId: "c-7", service: "spoofed", level: "fatal", message: "spoofed", offset: 9007199254740993n }),
        Effect.provide(loggingLayer("ingest", { format: "json", write: out.write }))
      )
      const record = JSON.parse(out.lines[0]!)
      assert.strictEqual(record.correlation_id, "c-7")
      assert.isUndefined(record.correlationId)
      assert.deepStrictEqual([record.service, record.level, record.message], ["ingest", "info", "ready"])
      assert.strictEqual(record.offset, "9007199254740993")
    }))

  it.effect("a failure's cause is in its record, and only there", () =>
    Effect.gen(function*() {
      const out = capture()
      yield* Effect.logError("commit failed", Cause.fail(new Error("disk full"))).pipe(
        Effect.provide(loggingLayer("ingest", { format: "json", write: out.write }))
      )
      yield* Effect.logInfo("fine").pipe(Effect.provide(loggingLayer("ingest", { format: "json", write: out.write })))
      const [failed, fine] = out.lines.map((l) => JSON.parse(l))
      assert.include(failed.cause, "disk full")
      assert.notProperty(fine, "cause")
    }))

  it.effect("the CLI's --log-level wins over K2_LOG_LEVEL", () =>
    Effect.gen(function*() {
      const out = capture()
      yield* Effect.logDebug("detail").pipe(
        Effect.provide(loggingLayer("ingest", { format: "json", write: out.write }).pipe(
          Layer.provide(Layer.succeed(GlobalFlag.LogLevel)(Option.some("Debug")))
        )),
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ K2_LOG_LEVEL: "Error" })))
      )
      assert.strictEqual(out.lines.length, 1)
    }))
})
