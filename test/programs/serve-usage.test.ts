/**
 * `npm run serve` as a user starts it: it says where it listens, and a port it cannot have is one
 * clear line, not a stack trace or an empty `error:`.
 */
import { createServer } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, spawnProgram, waitForHttp } from "../support/programs.ts"
import { tempWarehouse } from "../support/warehouse.ts"

const anonymous = { K2_API_AUTH: "off" }

describe.concurrent("npm run serve", () => {
  it.effect("says where it listens, and stops on SIGINT with exit 0", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const serve = spawnProgram("serve", ["--warehouse", tempWarehouse(), "--port", String(port)], anonymous)
      yield* Effect.gen(function*() {
        yield* Effect.promise(() => waitForHttp(`http://127.0.0.1:${port}/ready`, serve))
        assert.include(serve.output(), `listening on http://127.0.0.1:${port}`)
        // A warehouse with no catalog yet is served empty (ingest may start after serve), said once: a typo shows.
        assert.include(serve.output(), "no catalog at")
        serve.child.kill("SIGINT")
        assert.strictEqual(yield* Effect.promise(() => serve.exited), 0, serve.output())
        // A failed assertion leaves no server behind.
      }).pipe(Effect.ensuring(Effect.sync(() => serve.child.exitCode === null && serve.child.kill("SIGKILL"))))
    }), 60_000)

  it.effect("a port out of range is a usage error", () =>
    Effect.gen(function*() {
      const serve = spawnProgram("serve", ["--warehouse", tempWarehouse(), "--port", "70000"], anonymous)
      assert.strictEqual(yield* Effect.promise(() => serve.exited), 2, serve.output())
      assert.include(serve.output(), "Invalid value for flag --port")
      assert.notInclude(serve.output(), "    at ", "no stack trace")
    }), 60_000)

  it.effect("an empty host is refused: it would listen on every interface, not this machine only", () =>
    Effect.gen(function*() {
      for (const host of ["", " "]) {
        const serve = spawnProgram("serve", ["--warehouse", tempWarehouse(), "--port", "0", "--host", host], anonymous)
        // Should it start instead, it is stopped once it says so (else this would wait for ever).
        const listening = setInterval(() => serve.output().includes("listening on") && serve.child.kill("SIGKILL"), 100)
        const code = yield* Effect.promise(() => serve.exited).pipe(Effect.ensuring(Effect.sync(() => clearInterval(listening))))
        assert.strictEqual(code, 2, `--host ${JSON.stringify(host)}: ${serve.output()}`)
        assert.include(serve.output(), "value for flag --host")
      }
    }), 60_000)

  it.effect("a bad K2_API_* setting is a usage error, whether the config or serve refuses it", () =>
    Effect.gen(function*() {
      for (const env of [{ K2_API_RATE_LIMIT: "many" }, { K2_API_RATE_LIMIT: "0" }, { K2_API_AUTH: "maybe" }]) {
        const serve = spawnProgram("serve", ["--warehouse", tempWarehouse(), "--port", "0"], { ...anonymous, ...env })
        assert.strictEqual(yield* Effect.promise(() => serve.exited), 2, `${JSON.stringify(env)}: ${serve.output()}`)
        assert.include(serve.output(), Object.keys(env)[0]!)
        assert.notInclude(serve.output(), "    at ", "no stack trace")
      }
    }), 60_000)

  it.effect("a port in use says so", () =>
    Effect.gen(function*() {
      const taken = createServer()
      const port = yield* Effect.promise(() => new Promise<number>((resolve) => taken.listen(0, "127.0.0.1", () => resolve((taken.address() as { port: number }).port))))
      const serve = spawnProgram("serve", ["--warehouse", tempWarehouse(), "--port", String(port)], anonymous)
      const code = yield* Effect.promise(() => serve.exited)
      taken.close()
      assert.strictEqual(code, 1, serve.output())
      assert.include(serve.output(), `cannot listen on 127.0.0.1:${port}`)
      assert.include(serve.output(), "EADDRINUSE")
    }), 60_000)
})
