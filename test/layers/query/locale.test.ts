/**
 * Answers do not depend on the machine's locale or zone. DuckDB's ICU takes its calendar from the
 * locale: under fa_IR (Persian) or th_TH (Buddhist) a trading day fell in the year 1402 or 2567, the
 * daily summary matched no day, and user SQL's years and months were that calendar's. Each locale is
 * probed in a process of its own (localeProbe.ts): ICU reads the environment once, at start.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const probe = fileURLToPath(new URL("./localeProbe.ts", import.meta.url))

const probeUnder = (env: Readonly<Record<string, string>>) =>
  Effect.promise(() =>
    new Promise<unknown>((resolve, reject) => {
      execFile(process.execPath, ["--disable-warning=ExperimentalWarning", probe], { env: { ...process.env, ...env } }, (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`${error.message}\n${stderr}`))
        else resolve(JSON.parse(stdout.trim()))
      })
    })
  )

describe("answers under the machine's locale and zone", () => {
  for (const env of [
    { LANG: "fa_IR.UTF-8", LC_ALL: "fa_IR.UTF-8", TZ: "Asia/Tehran" },
    { LANG: "th_TH.UTF-8", LC_ALL: "th_TH.UTF-8", TZ: "Pacific/Chatham" }
  ]) {
    it.effect(`trading days and user SQL are Gregorian under ${env.LANG}, TZ=${env.TZ}`, () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* probeUnder(env), {
          days: [["2024-01-02", 1], ["2024-01-03", 1]],
          sql: [{ y: "2024", m: "2024-01-01 00:00:00+00" }]
        })
      }), 60_000)
  }
})
