/** The platform's Node HTTP(S) server: its request limits, the answers Node would not give, requests held while starting, and the shutdown grace. */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import { createServer as createSecureServer } from "node:https"
import { Socket } from "node:net"
import { TLSSocket } from "node:tls"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Redacted } from "effect"
import { requestHeadBytes } from "../../domain/api/Api.ts"
import { formatTraceparent, parseTraceparent } from "../../domain/traceContext.ts"
import { defaults, type ServerTls } from "./config.ts"
import { refusePlainHttp, refuseUnread } from "./socketRefusals.ts"
import { answeredWhileStarting } from "./startingProbes.ts"

/**
 * How long Node gives a request: its headers `headersMs`, the whole of it, body included, `requestMs`
 * (past either 408, refuseUnread), looked at every `checkEveryMs`.
 */
export interface RequestLimits {
  readonly requestMs: number
  readonly headersMs: number
  readonly checkEveryMs: number
}

const requestLimits: RequestLimits = { requestMs: 60_000, headersMs: 10_000, checkEveryMs: 30_000 }

export interface NodeServerOptions {
  readonly port: number
  readonly host: string
  /** Lowered by tests only. */
  readonly limits?: RequestLimits
  /** HTTPS served directly (K2_API_TLS_CERT_FILE, K2_API_TLS_KEY_FILE); else plain HTTP. */
  readonly tls?: ServerTls
  /** K2_API_MAX_SYMBOLS (default 1000): the request head is sized to hold that many (`requestHeadBytes`). */
  readonly maxSymbols?: number
}

/**
 * How long a stopping server (SIGTERM, SIGINT) lets the requests in flight finish before it cuts
 * them. A replay (paced for hours) or a long export never ends within any grace: the platform's
 * 20 s default kept serve past `docker stop`'s 10 s, which then killed it, leaving its temp files.
 * An SSE client resumes from its Last-Event-ID on another server.
 */
const SHUTDOWN_GRACE = "5 seconds"

/**
 * A caller's `traceparent` of a later version than 00, valid by its first four fields, rewritten as
 * version 00 of the same context: W3C Trace Context asks that a later version be read by those
 * fields (as K2 reads the header in Kafka records), but the platform's parser takes version 00
 * alone, so such a caller's trace was restarted under a new id. Anything else is left as it came.
 */
const traceparentAsVersion00 = (request: IncomingMessage) => {
  const value = request.headers["traceparent"]
  if (typeof value !== "string" || value.startsWith("00-")) return
  const context = parseTraceparent(value)
  if (context !== undefined) request.headers["traceparent"] = formatTraceparent(context)
}

/**
 * HTTP/1.0 has no chunked encoding: a streamed body (replay, CSV export, SQL answer) is delimited by
 * the connection's close. The platform ends a body cut after its headers by destroying the response,
 * which over HTTP/1.1 leaves the chunked body unterminated, but over HTTP/1.0 closed the connection as
 * cleanly as a whole body ends: the client, or a proxy speaking HTTP/1.0 to the server (nginx's
 * default), took the part for the whole. Such a connection is reset instead (over TLS, whose socket
 * cannot be, it is destroyed as before: no close_notify ends it).
 */
const resetWhenCut = (request: IncomingMessage, response: ServerResponse) => {
  if (request.httpVersionMajor !== 1 || request.httpVersionMinor !== 0) return
  const destroy = response.destroy.bind(response)
  response.destroy = (error?: Error) => {
    const socket = request.socket as Socket | null
    if (response.headersSent && !response.writableEnded && socket instanceof Socket && !(socket instanceof TLSSocket) && !socket.destroyed) {
      socket.resetAndDestroy()
    }
    return destroy(error)
  }
}

/** The platform's server; `onClose` is told when it starts to stop (`close`: the listening socket closes, the drain starts). */
export const nodeHttpServer = (options: NodeServerOptions, onClose: () => void) =>
  NodeHttpServer.layer(() => {
    const limits = options.limits ?? requestLimits
    const maxSymbols = options.maxSymbols ?? defaults.maxSymbols
    const http = {
      requestTimeout: limits.requestMs,
      headersTimeout: limits.headersMs,
      connectionsCheckingInterval: limits.checkEveryMs,
      maxHeaderSize: requestHeadBytes(maxSymbols)
    }
    // The HTTP limits start once the handshake is done: a client that never ends its handshake is cut
    // at the headers' time, not TLS's default of two minutes. An https.Server is an http.Server
    // past the handshake (the same request, clientError and upgrade events), which the platform serves.
    const server = options.tls === undefined ? createServer(http) : createSecureServer({
      ...http,
      cert: options.tls.cert,
      key: Redacted.value(options.tls.key),
      handshakeTimeout: limits.headersMs
    }) as unknown as ReturnType<typeof createServer>
    if (options.tls !== undefined) server.on("tlsClientError", refusePlainHttp)
    const close = server.close.bind(server)
    server.close = (callback) => {
      onClose()
      return close(callback)
    }
    server.on("clientError", refuseUnread(maxSymbols))
    // K2 upgrades to nothing (WebSocket, h2c), and the platform's `upgrade` listener took every request
    // carrying Upgrade off this server: out of its request timeout (a body trickled for minutes was still
    // read; one that never came held its connection for good), and a client resetting mid-body left the
    // request's fiber waiting for good. Without one, Node serves it as any request (RFC 9110 §7.8: a
    // server may ignore Upgrade); the pipeline closes its connection (upgradeCloses).
    type Listen = (event: string, listener: (...args: Array<unknown>) => void) => typeof server
    const on = server.on.bind(server) as Listen
    server.on = ((event, listener) => event === "upgrade" ? server : on(event, listener)) satisfies Listen as typeof server.on
    const early: Array<readonly [IncomingMessage, ServerResponse]> = []
    const hold = (request: IncomingMessage, response: ServerResponse) => {
      if (!answeredWhileStarting(request, response)) early.push([request, response])
    }
    const attach = (event: string | symbol, handler: (request: IncomingMessage, response: ServerResponse) => void) => {
      if (event !== "request" || handler === hold) return
      server.off("newListener", attach)
      server.off("request", hold)
      process.nextTick(() => early.splice(0).forEach(([request, response]) => handler(request, response)))
    }
    // First of the request listeners (the platform's is added after it), so that every one sees it.
    server.on("request", traceparentAsVersion00)
    server.on("request", resetWhenCut)
    server.on("request", hold)
    server.on("newListener", attach)
    return server
  }, { port: options.port, host: options.host, gracefulShutdownTimeout: SHUTDOWN_GRACE })
