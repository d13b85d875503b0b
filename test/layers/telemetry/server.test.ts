/** The metrics server: Prometheus text of the process registry at /metrics; a taken port is not fatal. */
import dns from "node:dns"
import { connect, createServer } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Logger, Metric, Option, Scope } from "effect"
import * as MetricsServer from "../../../src/layers/telemetry/server.ts"
import * as ProcessMetrics from "../../../src/layers/telemetry/process.ts"
import { missingIn, parseExposition } from "./opsMetrics.ts"

const listen = (options: { port: number }) =>
  Effect.gen(function*() {
    let port = -1
    yield* Layer.build(MetricsServer.layer({ ...options, host: "127.0.0.1", onListening: (p) => void (port = p) }))
    return port
  })

/** Whether this machine can listen on the IPv6 loopback at all. */
const hasIpv6Loopback = await new Promise<boolean>((resolve) => {
  const probe = createServer()
  probe.once("error", () => resolve(false))
  probe.listen(0, "::1", () => probe.close(() => resolve(true)))
})

describe("telemetry/server", () => {
  it.live("serves the process registry at /metrics, 404 elsewhere, closes with its scope", () =>
    Effect.gen(function*() {
      const port = yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(ProcessMetrics.layer)
        yield* Metric.update(Metric.withAttributes(Metric.counter("k2_test_server_total"), { table: "trades" }), 3)
        const port = yield* listen({ port: 0 })
        assert.isAbove(port, 0)
        const res = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`))
        assert.strictEqual(res.status, 200)
        assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/)
        const text = yield* Effect.promise(() => res.text())
        const { series, types } = parseExposition(text)
        assert.strictEqual(types.get("k2_test_server_total"), "counter")
        assert.deepStrictEqual(series.find((s) => s.name === "k2_test_server_total")?.labels, { table: "trades" })
        assert.deepStrictEqual(missingIn(text, [
          "k2_process_resident_memory_bytes", "k2_process_heap_used_bytes", "k2_process_heap_total_bytes",
          "k2_process_cpu_seconds_total", "k2_process_event_loop_delay_max_seconds"
        ]), [])
        assert.isAbove(Number(series.find((s) => s.name === "k2_process_resident_memory_bytes")!.value), 1e6)
        const other = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/other`))
        assert.strictEqual(other.status, 404)
        return port
      }))
      const closed = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`).then(() => "open", () => "closed"))
      assert.strictEqual(closed, "closed")
    }))

  it.live("a port in use: a warning, and the program goes on", () =>
    Effect.scoped(Effect.gen(function*() {
      const blocker = createServer()
      const port = yield* Effect.promise(() =>
        new Promise<number>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve((blocker.address() as { port: number }).port)))
      )
      yield* Effect.addFinalizer(() => Effect.promise(() => new Promise<void>((r) => blocker.close(() => r()))))
      const got = yield* listen({ port })
      assert.strictEqual(got, -1)
    })))

  // Known before the test, not from the server under test: a server that failed to listen would
  // otherwise look like a machine without IPv6 and pass without checking anything.
  it.live.skipIf(!hasIpv6Loopback)("an IPv6 host: the logged address is a URL that works (brackets)", () =>
    Effect.scoped(Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      let port = -1
      yield* Layer.build(MetricsServer.layer({ port: 0, host: "::1", onListening: (p) => void (port = p) })).pipe(
        Effect.provide(Logger.layer([capture]))
      )
      assert.notStrictEqual(port, -1, `not listening on [::1]: ${logged.join("; ")}`)
      const url = /(http:\S+)/.exec(logged[0] ?? "")?.[1]
      assert.strictEqual(url, `http://[::1]:${port}/metrics`)
      const res = yield* Effect.promise(() => fetch(url!))
      assert.strictEqual(res.status, 200)
    })))

  it.live("a port out of range: a warning naming the setting's problem, not a defect with a stack", () =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const exit = yield* Effect.scoped(listen({ port: 70_000 })).pipe(Effect.provide(Logger.layer([capture])), Effect.exit)
      assert.deepStrictEqual(exit._tag, "Success")
      assert.strictEqual(logged.length, 1)
      assert.include(logged[0], "metrics server not started on 127.0.0.1:70000")
      assert.include(logged[0], "65536")
    }))

  it.live("HEAD and a query string are answered as GET /metrics is; other methods are 405", () =>
    Effect.scoped(Effect.gen(function*() {
      const port = yield* listen({ port: 0 })
      const head = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`, { method: "HEAD" }))
      assert.strictEqual(head.status, 200)
      assert.match(head.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/)
      const queried = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics?name[]=k2_process_heap_used_bytes`))
      assert.strictEqual(queried.status, 200)
      const posted = yield* Effect.promise(() => fetch(`http://127.0.0.1:${port}/metrics`, { method: "POST" }))
      assert.strictEqual(posted.status, 405)
    })))

  it.live("a client holding a connection mid-request does not hold up closing the server", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const port = yield* listen({ port: 0 }).pipe(Scope.provide(scope))
      const socket = connect(port, "127.0.0.1")
      yield* Effect.promise(() => new Promise<void>((resolve) => socket.once("connect", () => resolve())))
      // Headers begun, never finished: not an idle connection, which close() alone would end.
      socket.write("GET /metrics HTTP/1.1\r\nHost: x\r\n")
      yield* Effect.sleep("50 millis")
      const closing = yield* Effect.forkDetach(Scope.close(scope, Exit.void))
      const closed = yield* Fiber.await(closing).pipe(Effect.timeoutOption("5 seconds"))
      // Let a close that waits on the client end, either way.
      socket.destroy()
      yield* Fiber.await(closing)
      assert.isTrue(Option.isSome(closed), "closing the server waited on the half-sent request")
    }), 20_000)
  // The host check (hostProblem) refuses an operator's mistake before ingest starts (exit 2). A
  // resolver that fails for now (EAI_AGAIN: DNS not up yet at boot, a timeout) is no mistake: refused
  // as one, a host that resolves a moment later stopped the run, which a port taken does not.
  it.live("hostProblem: a temporary resolver failure is not a host that cannot be resolved", () =>
    Effect.gen(function*() {
      const lookup = dns.lookup
      const failing = (host: string, options: unknown, callback?: (e: Error) => void) => {
        const e = Object.assign(new Error(`getaddrinfo EAI_AGAIN ${host}`), { code: "EAI_AGAIN" })
        process.nextTick(() => (typeof options === "function" ? options as (e: Error) => void : callback!)(e))
      }
      const problem = yield* Effect.acquireUseRelease(
        Effect.sync(() => void (dns.lookup = failing as unknown as typeof dns.lookup)),
        () => MetricsServer.hostProblem("metrics.example"),
        () => Effect.sync(() => void (dns.lookup = lookup))
      )
      assert.strictEqual(problem, undefined)
      // Still refused: a name the resolver says does not exist, an address of another machine.
      assert.match((yield* MetricsServer.hostProblem("no-such-host.invalid")) ?? "", /cannot be resolved/)
      assert.match((yield* MetricsServer.hostProblem("192.0.2.1")) ?? "", /not an address of this machine/)
    }))
})
