/** An in-process HTTPS server presenting test/fixtures/tls/server.pem (signed by a CA Node does not trust). */
import * as fs from "node:fs"
import type * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import * as tls from "node:tls"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { listening } from "./httpServer.ts"

/** A file of test/fixtures/tls. */
const tlsFixture = (name: string) => fs.readFileSync(fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url)), "utf8")

/** `answer` served over HTTPS on a loopback port while the scope lasts (its port). */
export const listeningTls = (answer: http.RequestListener) =>
  listening(https.createServer({ key: tlsFixture("server.key"), cert: tlsFixture("server.pem") }, answer) as unknown as http.Server)

/**
 * A PostgreSQL server as far as TLS: it takes the client's SSLRequest ('S') and shakes hands with the
 * fixture certificate, then says nothing. Its port while the scope lasts.
 */
export const listeningPgTls = () => {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
    socket.once("data", () => {
      socket.write("S")
      new tls.TLSSocket(socket, { isServer: true, key: tlsFixture("server.key"), cert: tlsFixture("server.pem") }).on("error", () => {})
    })
  })
  return Effect.acquireRelease(
    Effect.callback<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as net.AddressInfo).port)))
    }),
    () =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
        for (const socket of sockets) socket.destroy()
      })
  )
}
