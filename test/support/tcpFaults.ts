/**
 * A TCP proxy that breaks HTTP/1.1 exchanges on purpose, between a client and a real server: each
 * request (seen by its request line on the client's side) gets an action, which resets the client's
 * connection (RST, `resetAndDestroy`) before, during or after the server took the request, or
 * stalls it. Connections can also be refused for a while (each accepted one reset at once).
 */
import * as net from "node:net"
import { Effect } from "effect"

export type FaultAction =
  | "pass"
  /** Reset before anything of the request reaches the server. */
  | "reset"
  /** Half the request's first bytes reach the server, then reset. */
  | "reset-mid-request"
  /** The server takes the whole request (a commit lands); reset as its answer starts. */
  | "reset-after-forward"
  /** Some of the answer (its first 2 KB) reaches the client, then reset. */
  | "reset-mid-response"
  /** Taken, never answered (the server's answer is held back). */
  | "stall"

export interface ProxiedRequest {
  /** Connection number (1, 2, ...) and the request's index on it (0: first; more: a kept-alive connection reused). */
  readonly connection: number
  readonly index: number
  /** `GET /v1/config` */
  readonly line: string
}

export interface FaultProxy {
  readonly port: number
  /** Every request seen, with the action it got. */
  readonly seen: ReadonlyArray<ProxiedRequest & { readonly action: FaultAction }>
  /** While on, new connections are reset as accepted and open ones are reset now (a server gone). */
  readonly refuse: (on: boolean) => void
}

const REQUEST_LINE = /^(GET|HEAD|POST|PUT|DELETE) (\S+)/

/** The proxy in front of `127.0.0.1:<target>` while the scope lasts. */
export const faultProxy = (target: number, decide: (request: ProxiedRequest) => FaultAction) =>
  Effect.acquireRelease(
    Effect.callback<FaultProxy & { readonly close: () => Promise<void> }>((resume) => {
      const seen: Array<ProxiedRequest & { action: FaultAction }> = []
      const open = new Set<net.Socket>()
      let refusing = false
      let connections = 0
      const server = net.createServer((client) => {
        client.on("error", () => {})
        if (refusing) return void client.resetAndDestroy()
        const connection = ++connections
        let index = 0
        let action: FaultAction = "pass"
        let answered = 0
        const upstream = net.connect(target, "127.0.0.1")
        upstream.on("error", () => {})
        open.add(client)
        const reset = () => {
          client.resetAndDestroy()
          upstream.destroy()
        }
        client.on("close", () => {
          open.delete(client)
          upstream.destroy()
        })
        // A stalled exchange stays open whatever the server does (its idle timeout closes its side).
        upstream.on("close", () => action === "stall" || client.destroy())
        client.on("data", (chunk) => {
          const line = REQUEST_LINE.exec(chunk.toString("latin1"))
          if (line !== null) {
            const request = { connection, index: index++, line: `${line[1]} ${line[2]}` }
            action = decide(request)
            seen.push({ ...request, action })
            answered = 0
          }
          if (action === "reset") return reset()
          if (action === "stall") return
          if (action === "reset-mid-request") {
            upstream.write(chunk.subarray(0, chunk.length >> 1))
            return void setTimeout(reset, 20)
          }
          upstream.write(chunk)
        })
        upstream.on("data", (chunk) => {
          if (action === "stall") return
          if (action === "reset-after-forward") return reset()
          if (action === "reset-mid-response") {
            const room = Math.max(0, 2048 - answered)
            client.write(chunk.subarray(0, room))
            answered += Math.min(room, chunk.length)
            if (answered >= 2048) setTimeout(reset, 20)
            return
          }
          client.write(chunk)
        })
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          port: (server.address() as net.AddressInfo).port,
          seen,
          refuse: (on) => {
            refusing = on
            if (on) for (const socket of open) socket.resetAndDestroy()
          },
          close: () =>
            new Promise<void>((done) => {
              for (const socket of open) socket.destroy()
              server.close(() => done())
            })
        })))
    }),
    (proxy) => Effect.promise(proxy.close)
  )
