/**
 * `npm run query` and the HTTP API answer the same question alike, over one warehouse: the same
 * CSV (rows, columns, their order, decimal text, instants, empty cells), the same cursor, and what
 * the API answers 400 is exit 2 with the same reason. Intended differences: docs/query.md, Programs.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { drainRecord, programExitCode } from "../../../src/programs/cli/run.ts"
import type { Catalog } from "../../../src/services/Catalog.ts"
import type { QueryEngine } from "../../../src/services/QueryEngine.ts"
import { auth, baseUrl, get, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { warehouseDir } from "./fixture.ts"
import { runQuery } from "./queryRun.ts"


const errorOf = (exit: Exit.Exit<void, unknown>) =>
  Exit.isFailure(exit) ? exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error as { readonly message?: string } | undefined : undefined

layer(served(testOptions(), warehouseDir(), { trades: 400, quotes: 400 }), { timeout: 120_000, excludeTestServices: true })("query program and HTTP API", (it) => {
  const over = Effect.gen(function*() {
    return { reads: Layer.succeedContext(yield* Effect.context<QueryEngine | Catalog>()), base: yield* baseUrl }
  })
  const api = (base: string, url: string) =>
    Effect.gen(function*() {
      const res = yield* get(`${base}${url}`, auth(KEYS.reader))
      return { status: res.status, text: yield* Effect.promise(() => res.text()) }
    })

  it.effect("the same CSV for the same question", () =>
    Effect.gen(function*() {
      const { base, reads } = yield* over
      const range = "from=1704153600000000&to=2024-01-04T10:00:00%2B11:00"
      const cli = ["--from", "1704153600000000", "--to", "2024-01-04T10:00:00+11:00"]
      for (
        const [args, url] of [
          [["trades", ...cli, "-s", "CBA,BHP,BHP", "--fields", "price,symbol,exchange_timestamp", "--filter", "price:20:60", "--limit", "7"], `/v1/trades?${range}&symbols=CBA,BHP,BHP&fields=price,symbol,exchange_timestamp&filter=price:20:60&limit=7`],
          [["quotes", ...cli, "--filter", "bid_price::30", "--limit", "20"], `/v1/quotes?${range}&filter=bid_price::30&limit=20`],
          [["bars", ...cli, "-s", "BHP,CBA", "--interval", "1h"], `/v1/bars?${range}&symbols=BHP,CBA&interval=1h`],
          [["bars", "--quotes", ...cli, "--interval", "5m"], `/v1/quotes/bars?${range}&interval=5m`],
          [["summary", "--from-day", "2024-01-02", "--to-day", "2024-01-05"], "/v1/summary?from_day=2024-01-02&to_day=2024-01-05"],
          [["stats", "quotes"], "/v1/stats/quotes?"]
        ] as const
      ) {
        const r = yield* runQuery(reads, [...args, "-o", "csv"])
        assert.isTrue(Exit.isSuccess(r.exit), `${args.join(" ")}: ${String(r.exit)}`)
        const answer = yield* api(base, `${url}&format=csv`)
        assert.strictEqual(answer.status, 200, url)
        assert.isAbove(r.stdout.split("\n").length, 2, url)
        assert.strictEqual(r.stdout, answer.text, url)
      }
      // The same page and the same next cursor.
      const page = yield* runQuery(reads, ["trades", ...cli, "--limit", "5", "-o", "json"])
      const apiPage = JSON.parse((yield* api(base, `/v1/trades?${range}&limit=5`)).text)
      assert.deepStrictEqual(JSON.parse(page.stdout).rows, apiPage.data)
      assert.strictEqual(JSON.parse(page.stdout).nextCursor, apiPage.next_cursor)
    }))

  it.effect("what the API answers 400 is exit 2 with the same reason", () =>
    Effect.gen(function*() {
      const { base, reads } = yield* over
      const day = "from=2024-01-02&to=2024-01-03"
      const cli = ["--from", "2024-01-02", "--to", "2024-01-03"]
      for (
        const [args, url] of [
          [["trades", "--from", "2024-01-02", "--to", "1704153600"], "/v1/trades?from=2024-01-02&to=1704153600"],
          [["trades", "--from", "2024-01-03", "--to", "2024-01-02"], "/v1/trades?from=2024-01-03&to=2024-01-02"],
          [["trades", ...cli, "--filter", "price:5:1"], `/v1/trades?${day}&filter=price:5:1`],
          [["trades", ...cli, "--filter", "bid_price:1"], `/v1/trades?${day}&filter=bid_price:1`],
          [["trades", ...cli, "--fields", "foo"], `/v1/trades?${day}&fields=foo`],
          [["trades", ...cli, "--cursor", "zzz"], `/v1/trades?${day}&cursor=zzz`],
          [["quotes", ...cli, "--snapshot-id", "x1"], `/v1/quotes?${day}&snapshot_id=x1`],
          [["summary", "--from-day", "2024-01-0x"], "/v1/summary?from_day=2024-01-0x"],
          [["summary", "--from-day", "2024-01-02", "--to-day", "1899-12-31"], "/v1/summary?from_day=2024-01-02&to_day=1899-12-31"]
        ] as const
      ) {
        const r = yield* runQuery(reads, args)
        const answer = yield* api(base, url)
        assert.strictEqual(answer.status, 400, url)
        assert.strictEqual(programExitCode(r.exit, drainRecord()), 2, args.join(" "))
        // The API names a parameter (to, snapshot_id, from_day; `invalid cursor`), the program its flag (--to, --snapshot-id, --from-day, --cursor).
        const detail = (JSON.parse(answer.text).detail as string).replace(/^(to|snapshot_id|from_day|to_day|filter): |^invalid cursor: /, "")
        const message = String(errorOf(r.exit)?.message).replace(/^--(to|snapshot-id|from-day|to-day|filter|cursor): /, "")
        assert.strictEqual(message, detail, args.join(" "))
      }
    }))
})
