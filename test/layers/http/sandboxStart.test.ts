/**
 * A SQL sandbox whose worker process cannot start (no process can be made, the runtime missing)
 * fails every SQL statement and Parquet export: that is the server's trouble, a 503 the operator
 * sees in the logs, not the client's 400 `sql_error` (which is not logged).
 */
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"
import { guard } from "../../../src/layers/http/problems.ts"
import { runSandboxed, stopIdleSandboxes } from "../../../src/layers/http/sql.ts"

it.effect("a sandbox worker that cannot start is 503 sql_unavailable, not the client's 400 sql_error", () =>
  Effect.gen(function*() {
    const execPath = process.execPath
    // No idle worker to reuse (test files share workers), so the run starts one, which cannot exec.
    stopIdleSandboxes()
    process.execPath = "/nonexistent/k2-node"
    const r = yield* Effect.result(runSandboxed({ sql: "SELECT 1 AS n", tables: [], maxRows: 1, timeoutMs: 5_000 })).pipe(
      Effect.ensuring(Effect.sync(() => void (process.execPath = execPath)))
    )
    assert.strictEqual(r._tag, "Failure")
    if (r._tag !== "Failure") return
    const response = yield* guard(Effect.fail(r.failure))
    assert.strictEqual(response.status, 503)
    const body = response.body as { readonly body?: unknown }
    const text = typeof body.body === "string" ? body.body : new TextDecoder().decode(body.body as Uint8Array)
    const problem = JSON.parse(text) as { code: string; detail: string }
    assert.strictEqual(problem.code, "sql_unavailable")
    assert.match(problem.detail, /could not start/)
  }))
