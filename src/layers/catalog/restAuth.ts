/**
 * K2's credentials for the REST catalog: refused up front when no request could carry them, an
 * OAuth2 token fetched with client credentials and renewed before it lapses or when the server
 * says it expired, and `call`, a catalog request sent with them.
 */
import { Clock, Effect, Ref } from "effect"
import { HttpClientRequest } from "effect/http"
import { stringifyJson } from "../../domain/iceberg/json.ts"
import { unsendableHeaderValue } from "../../domain/headerValue.ts"
import { withoutCredentials } from "../../domain/urlCredentials.ts"
import { type CatalogError, catalogError, CatalogRejected } from "../../services/Catalog.ts"
import { errorMessage, expiredCredentials, jsonObject, unavailable } from "./restErrors.ts"
import type { RestCatalogOptions } from "./restOptions.ts"
import type { Send } from "./restTransport.ts"

/**
 * What makes a fixed token unsendable in an Authorization header, or undefined: fetch refuses a
 * line break, a NUL or a character beyond Latin-1 (surrounding whitespace it trims), on every request,
 * in words that echo the token, and that read as the catalog being down. Said without the token.
 */
export const unsendableToken = (token: string): string | undefined => {
  const at = unsendableHeaderValue(token)
  return at === undefined
    ? undefined
    : `the token (K2_REST_TOKEN) holds ${at}, which no HTTP header carries: give the token as issued, on one line`
}

/** A token is renewed this long before it expires (or half its life, if shorter): a request never carries one about to lapse. */
const RENEW_AHEAD_MS = 60_000

/** Refuses credentials no request could carry, before any is sent. */
export const checkCredentials = Effect.fnUntraced(function*(options: RestCatalogOptions) {
  // fetch refuses a URL holding credentials, in words that echo them, on every request (retried
  // as a server down): the catalog takes a token or client credentials instead.
  const parsedUri = URL.parse(options.uri)
  if (parsedUri !== null && (parsedUri.username !== "" || parsedUri.password !== "")) {
    return yield* catalogError(new CatalogRejected({
      detail: `the catalog URI ${withoutCredentials(options.uri)} holds user info: give the catalog's credentials in K2_REST_TOKEN or K2_REST_CREDENTIAL`
    }))
  }
  const badToken = options.token === undefined ? undefined : unsendableToken(options.token)
  if (badToken !== undefined) return yield* catalogError(new CatalogRejected({ detail: badToken }))
})

/**
 * `call` for the catalog at `base()` (the URI without trailing slashes, read at each request: the
 * server's `/v1/config` may move it), holding the token it renews.
 */
export const makeCall = Effect.fnUntraced(function*(options: RestCatalogOptions, base: () => string, send: Send) {
  // A fixed token never expires here: the server's 401 says when it does.
  const token = yield* Ref.make<{ readonly value: string; readonly renewAt: number } | undefined>(
    options.token === undefined ? undefined : { value: options.token, renewAt: Infinity }
  )

  const fetchToken = Effect.gen(function*() {
    if (options.credential === undefined) return undefined
    const colon = options.credential.indexOf(":")
    const [id, secret] = colon < 0 ? [undefined, options.credential] : [
      options.credential.slice(0, colon),
      options.credential.slice(colon + 1)
    ]
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      ...(id === undefined ? {} : { client_id: id }),
      client_secret: secret,
      scope: options.scope ?? "catalog"
    })
    const request = HttpClientRequest.post(`${base()}/v1/oauth/tokens`).pipe(
      HttpClientRequest.bodyText(form.toString(), "application/x-www-form-urlencoded")
    )
    const reply = yield* send(request, undefined, true)
    // 400 and 401 refuse the credentials themselves (invalid_client, invalid_grant): no retry helps.
    if (reply.status === 400 || reply.status === 401) {
      return yield* catalogError(new CatalogRejected({ detail: `OAuth2 token request refused: ${errorMessage(reply)}` }))
    }
    if (reply.status !== 200) return yield* unavailable(`OAuth2 token request failed: ${errorMessage(reply)}`)
    const answer = yield* jsonObject(reply, "OAuth2 token request")
    const accessToken = answer.access_token
    if (typeof accessToken !== "string") return yield* unavailable("OAuth2 token response has no access_token")
    // As a fixed token is (unsendableToken): fetch would refuse it on every request, echoing it,
    // as the catalog being down. The server hands out the same kind again, so no retry helps.
    const unsendable = unsendableHeaderValue(accessToken)
    if (unsendable !== undefined) {
      return yield* catalogError(new CatalogRejected({
        detail: `OAuth2 token response: its access_token holds ${unsendable}, which no HTTP header carries: the token endpoint must issue tokens an Authorization header can carry`
      }))
    }
    const lifetimeMs = typeof answer.expires_in === "number" && answer.expires_in > 0 ? answer.expires_in * 1000 : Infinity
    const now = yield* Clock.currentTimeMillis
    yield* Ref.set(token, { value: accessToken, renewAt: now + lifetimeMs - Math.min(RENEW_AHEAD_MS, lifetimeMs / 2) })
    return accessToken
  })

  const call = Effect.fnUntraced(function*(
    method: "GET" | "POST" | "DELETE" | "HEAD",
    path: string,
    body?: unknown,
    urlParams?: Readonly<Record<string, string>>,
    /** Reclassifies a failure once the request may have reached the server (not a token fetch's before it). */
    onSendFailure: (e: CatalogError) => CatalogError = (e) => e
  ) {
    let request = HttpClientRequest.make(method)(`${base()}${path}`).pipe(HttpClientRequest.acceptJson)
    if (urlParams !== undefined) request = HttpClientRequest.setUrlParams(request, urlParams)
    if (body !== undefined) request = HttpClientRequest.bodyText(request, stringifyJson(body), "application/json")
    const held = yield* Ref.get(token)
    const due = held === undefined || (yield* Clock.currentTimeMillis) >= held.renewAt
    const bearer = due && options.credential !== undefined ? yield* fetchToken : held?.value
    const reply = yield* Effect.mapError(send(request, bearer), onSendFailure)
    if (expiredCredentials(reply.status) && options.credential !== undefined) {
      // The first answer (401, 419) says the request was not processed: a token that cannot be had fails as itself.
      const renewed = yield* fetchToken
      return yield* Effect.mapError(send(request, renewed), onSendFailure)
    }
    return reply
  })
  return call
})

/** A catalog request (`path` below the catalog URI) with K2's credentials. */
export type Call = Effect.Success<ReturnType<typeof makeCall>>
