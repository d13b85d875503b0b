/**
 * `npm run produce --inject ... --manifest FILE` on the real broker: the injected anomalies are
 * written whenever the run ends with its reconciliation, also when --duration (or a signal)
 * stops the feed before its end.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { uniqueExchange } from "../support/ingestHarness.ts"
import { ensureBroker, kafkaBrokers } from "../support/kafka.ts"
import { spawnProgram } from "../support/programs.ts"

beforeAll(() => ensureBroker(), 600_000)

describe("npm run produce --manifest", () => {
  it.effect("a feed stopped by --duration still writes its manifest, and a stale one is not left", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-manifest-"))
      const manifest = path.join(dir, "anomalies.json")
      const reconciliation = path.join(dir, "reconciliation.json")
      fs.writeFileSync(manifest, "[\"an earlier run's\"]\n")
      const run = spawnProgram("produce", [
        "--brokers", kafkaBrokers.join(","),
        "--partitions", "1",
        "--exchange", uniqueExchange(),
        "--events", "100000",
        "--rate", "500",
        "--duration", "2s",
        "--inject", "gap=0.2",
        "--manifest", manifest,
        "--reconciliation", reconciliation
      ])
      assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
      const report = JSON.parse(fs.readFileSync(reconciliation, "utf8")) as { completed: boolean; totals: { trades: number; quotes: number } }
      assert.isFalse(report.completed, "stopped by --duration")
      assert.isAbove(report.totals.trades + report.totals.quotes, 0)
      assert.isTrue(fs.existsSync(manifest), `no manifest:\n${run.output()}`)
      const anomalies = JSON.parse(fs.readFileSync(manifest, "utf8")) as Array<{ kind?: string }>
      assert.isAbove(anomalies.length, 0)
      assert.notInclude(JSON.stringify(anomalies), "an earlier run's")
    }), 120_000)
})
