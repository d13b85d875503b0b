/**
 * One HTTP exchange with the REST catalog: redirects followed only when the request goes on
 * unchanged, a read whose connection broke sent once more, a time limit, and a transport failure
 * as a typed catalog error.
 */
import { Duration, Effect, Option } from "effect"
import { HttpClient, type HttpClientError, HttpClientRequest } from "effect/http"
import { withoutCredentials } from "../../domain/urlCredentials.ts"
import { type CatalogError, catalogError, CatalogRejected } from "../../services/Catalog.ts"
import { TRUST_HINT, untrustedCertificate } from "../untrustedCertificate.ts"
import { causesText } from "./failureText.ts"
import { unavailable } from "./restErrors.ts"
import { type Reply, replyOf } from "./restReply.ts"

const MAX_REDIRECTS = 5

/**
 * Where to send `request` again after `reply`, when that is safe: the method and body go on unchanged
 * (307, 308), or there are none (GET, HEAD). A fetch left to follow a 301/302/303 itself resends a
 * POST or DELETE as a GET, whose 200 (the table loaded) a commit would take for accepted.
 */
const redirectTarget = (request: HttpClientRequest.HttpClientRequest, reply: Reply): URL | undefined => {
  if (![301, 302, 303, 307, 308].includes(reply.status) || reply.location === undefined) return undefined
  if (reply.status !== 307 && reply.status !== 308 && request.method !== "GET" && request.method !== "HEAD") return undefined
  try {
    return new URL(reply.location, request.url)
  } catch {
    return undefined
  }
}

/** A request that changes nothing, so may be sent again when its connection broke (a change may have been carried out). */
const readOnly = (request: HttpClientRequest.HttpClientRequest) => request.method === "GET" || request.method === "HEAD"

/**
 * The connection broke under the exchange (reset, closed, the answer cut short): a kept-alive
 * connection the server or a proxy had ended as it was reused, which a new one does not meet.
 * A certificate refused is not: it will be refused again.
 */
const brokenConnection = (e: HttpClientError.HttpClientError) =>
  (e.reason._tag === "TransportError" || e.reason._tag === "DecodeError") && untrustedCertificate(e) === undefined

/** Per request; a commit that times out is CommitStateUnknown. */
const REQUEST_TIMEOUT = Duration.seconds(30)

/**
 * Sends a request with a bearer token (or none), as `makeSend` builds it; `secretInBody` says its
 * body carries a secret (the OAuth2 client secret), which must not follow a redirect the token would not.
 */
export type Send = (
  request: HttpClientRequest.HttpClientRequest,
  bearer: string | undefined,
  secretInBody?: boolean
) => Effect.Effect<Reply, CatalogError>

/**
 * One HTTP exchange, following the redirects that keep the request as it is (see redirectTarget);
 * a transport failure or timeout is CatalogUnavailable (callers may reclassify). A read whose
 * connection broke is sent once more (brokenConnection), within the same time limit.
 */
export const makeSend = (http: HttpClient.HttpClient): Send => (request, bearer, secretInBody = false) =>
  Effect.gen(function*() {
    let current = request
    for (let hops = 0;; hops++) {
      const withAuth = bearer === undefined ? current : HttpClientRequest.bearerToken(current, bearer)
      const exchange = http.execute(withAuth).pipe(
        Effect.flatMap((response) =>
          Effect.map(response.arrayBuffer, (body) => replyOf(response.status, new Uint8Array(body), response.headers["location"]))
        )
      )
      const outcome = yield* (readOnly(current) ? Effect.retry(exchange, { times: 1, while: brokenConnection }) : exchange).pipe(
        Effect.timeoutOption(REQUEST_TIMEOUT),
        Effect.mapError((e) => {
          // Waiting will not make the catalog's certificate trusted: refused (the request was never sent).
          const untrusted = untrustedCertificate(e)
          return untrusted === undefined
            ? unavailable(`${current.method} ${current.url}: ${causesText(e)}`)
            : catalogError(new CatalogRejected({
              detail: `${current.method} ${current.url}: the catalog's TLS certificate is not trusted (${untrusted}): ${TRUST_HINT}, or correct the host of the catalog URI`
            }))
        })
      )
      if (Option.isNone(outcome)) {
        return yield* unavailable(`${current.method} ${current.url}: no answer within ${Duration.format(REQUEST_TIMEOUT)}`)
      }
      const target = redirectTarget(current, outcome.value)
      if (target === undefined) return outcome.value
      if (hops >= MAX_REDIRECTS) return yield* unavailable(`${request.method} ${request.url}: more than ${MAX_REDIRECTS} redirects`)
      // The token goes on to the same host only (on another port of it, or from http to https too),
      // never down from https to http, where anyone on the way reads it (as Python's requests strips it).
      const from = new URL(current.url)
      const downgrade = from.protocol === "https:" && target.protocol !== "https:"
      if (target.hostname !== from.hostname || downgrade) {
        // A body cannot be stripped as the header is, and a 307/308 resends it as it is.
        if (secretInBody) {
          return yield* catalogError(new CatalogRejected({
            detail: `${current.method} ${current.url}: the server redirects (${outcome.value.status}) to ${
              withoutCredentials(target.href)
            }, where the request's client secret would go ${
              downgrade ? "unencrypted" : "to another host"
            }: not sent there; give the catalog URI the server means`
          }))
        }
        bearer = undefined
      }
      current = HttpClientRequest.setUrl(current, target)
    }
  })
