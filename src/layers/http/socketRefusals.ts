/** The answers written to a socket by hand, as problems: what Node could not read as a request, or plain HTTP sent to the HTTPS port. */
import { STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"
import { randomUUID } from "node:crypto"
import { requestHeadBytes } from "../../domain/api/Api.ts"
import { problemBody } from "./respond.ts"

/**
 * What Node cannot read as a request (a request line or headers past `requestHeadBytes`, malformed, or not
 * received in time) it answers itself, without a body: answered here as every error is, a problem.
 * As Node's own answer: written unless a response is under way on the connection, which is then closed.
 */
export const refuseUnread = (maxSymbols: number) => (error: Error & { readonly code?: string }, socket: Duplex) => {
  // Node's own test (http's socketOnError): no response on the way whose head went out already.
  const inFlight = (socket as Duplex & { readonly _httpMessage?: { readonly headersSent: boolean } | null })._httpMessage
  if (!socket.writable || (inFlight != null && inFlight.headersSent)) return void socket.destroy(error)
  const [status, code, detail] = error.code === "HPE_HEADER_OVERFLOW"
    ? [431, "bad_request", `the request line and headers are longer than the server reads (${Math.floor(requestHeadBytes(maxSymbols) / 1024)} KiB, room for K2_API_MAX_SYMBOLS=${maxSymbols} symbols)`]
    : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
    ? [408, "bad_request", "the request was not received in time"]
    : error.code === "HPE_CHUNK_EXTENSIONS_OVERFLOW"
    ? [413, "body_too_large", "the chunk extensions are too large"]
    : [400, "bad_request", "the request could not be read"]
  const body = problemBody(status, code, detail, randomUUID())
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `cache-control: no-store\r\nconnection: close\r\n\r\n${body}`
  )
  socket.destroy(error)
}

/**
 * A plain HTTP request to the HTTPS port: OpenSSL recognises it in the handshake. Left to Node, the
 * connection was reset without a word (curl: "Empty reply from server"); answered in plain text as
 * nginx does, the client reads why. Any other failed handshake is closed, as Node does.
 */
export const refusePlainHttp = (error: Error & { readonly code?: string }, socket: Duplex) => {
  const raw = (socket as Duplex & { readonly _parent?: Duplex | null })._parent
  if (error.code === "ERR_SSL_HTTP_REQUEST" && raw != null && raw.writable) {
    const body = problemBody(400, "bad_request", "this server speaks HTTPS only: send the request to https://", randomUUID())
    raw.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `cache-control: no-store\r\nconnection: close\r\n\r\n${body}`
    )
  }
  socket.destroy()
}
