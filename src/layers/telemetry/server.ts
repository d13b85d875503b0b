/**
 * A tiny `node:http` server for programs without an HTTP API (ingest): `GET /metrics` renders
 * the process registry in the Prometheus text format, `GET /health` answers ok. Scoped: it
 * listens while the layer lives and closes with it.
 */
import { createServer, type Server } from "node:http"
import * as net from "node:net"
import { Effect, Layer } from "effect"
import { PrometheusMetrics } from "effect/observability"

export interface MetricsServerOptions {
  /** 0 picks a free port (see `listening`). */
  readonly port: number
  readonly host?: string
  /** Called once listening, with the actual port. */
  readonly onListening?: (port: number) => void
}

const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

/**
 * Listens on host:port; a port already in use is logged as a warning and the program goes on
 * without metrics (ingestion must not stop because a second process on the machine took the port).
 */
export const layer = (options: MetricsServerOptions): Layer.Layer<never> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const context = yield* Effect.context<never>()
    const host = options.host ?? "0.0.0.0"
    // An IPv6 address goes in brackets before a port, in the logged URL and address alike.
    const hostPort = (port: number) => `${host.includes(":") ? `[${host}]` : host}:${port}`
    const server = yield* Effect.acquireRelease(
      Effect.callback<Server | undefined>((resume) => {
        const server = createServer((req, res) => {
          const path = (req.url ?? "/").split("?")[0]
          if (req.method !== "GET" && req.method !== "HEAD") {
            res.writeHead(405, { allow: "GET, HEAD" }).end()
          } else if (path === "/metrics") {
            let body: string
            try {
              body = PrometheusMetrics.formatUnsafe(context)
            } catch (e) {
              res.writeHead(500, { "content-type": "text/plain" }).end(`metrics unavailable: ${String(e)}\n`)
              return
            }
            res.writeHead(200, { "content-type": CONTENT_TYPE, "cache-control": "no-store" })
            res.end(req.method === "HEAD" ? undefined : body)
          } else if (path === "/health") {
            res.writeHead(200, { "content-type": "text/plain" }).end("ok\n")
          } else {
            res.writeHead(404, { "content-type": "text/plain" }).end("not found; try /metrics\n")
          }
        })
        server.keepAliveTimeout = 65_000
        const onError = (e: NodeJS.ErrnoException) => {
          server.close()
          resume(Effect.as(Effect.logWarning(`metrics server not started on ${hostPort(options.port)}: ${e.message}`), undefined))
        }
        server.once("error", onError)
        try {
          server.listen(options.port, host, () => {
            server.off("error", onError)
            server.on("error", (e) => void process.stderr.write(`metrics server: ${e.message}\n`))
            const address = server.address()
            const port = typeof address === "object" && address !== null ? address.port : options.port
            options.onListening?.(port)
            resume(Effect.as(Effect.logInfo(`metrics on http://${hostPort(port)}/metrics`), server))
          })
        } catch (e) {
          // A port out of range throws here rather than emitting "error": the same warning, not a defect.
          onError(e as NodeJS.ErrnoException)
        }
      }),
      (server) =>
        server === undefined ? Effect.void : Effect.callback<void>((resume) => {
          server.close(() => resume(Effect.void))
          server.closeAllConnections()
        })
    )
    return server
  }))

/**
 * What is wrong with `host` as an address to listen on, undefined when nothing is: a name that
 * does not resolve (a resolver failing for now, EAI_AGAIN, is not one), or an address no interface
 * of this machine has. Tried as the server listens (a free port of it, closed at once): an
 * operator's mistake, said before the program starts, unlike a port another process has taken,
 * which `layer` only warns of.
 */
export const hostProblem = (host: string): Effect.Effect<string | undefined> =>
  Effect.callback<string | undefined>((resume) => {
    const probe = net.createServer()
    probe.once("error", (e: NodeJS.ErrnoException) => {
      probe.close()
      resume(Effect.succeed(
        // A resolver failing for now (DNS not up yet, a timeout) is no mistake: the run starts, and
        // `layer` warns if the name still does not resolve when it listens.
        e.code === "EAI_AGAIN"
          ? undefined
          : e.code === "EADDRNOTAVAIL"
          ? "not an address of this machine (give one of its interfaces', 127.0.0.1, or 0.0.0.0 for all)"
          : e.code === "ENOTFOUND" || e.code === "EAI_NONAME" || e.code === "EAI_FAIL"
          ? `cannot be resolved (${e.code})`
          : `cannot be listened on: ${e.message}`
      ))
    })
    probe.listen(0, host, () => probe.close(() => resume(Effect.succeed(undefined))))
  })
