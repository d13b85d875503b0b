/**
 * The Iceberg REST catalog client (apache/iceberg open-api/rest-catalog-open-api.yaml), over
 * Effect's HttpClient. The server owns the metadata files: a commit sends the requirements and
 * updates K2 builds (`assert-table-uuid`, `assert-ref-snapshot-id`; `add-snapshot`,
 * `set-snapshot-ref`, `remove-snapshots`, `set-properties`) and the server applies them.
 *
 * Status mapping: 404 → NoSuchNamespace / NoSuchTable (a table load's too when its namespace is missing), 409 (or a
 * 400 typed NamespaceNotEmptyException, as Iceberg's own servers answer a drop) → AlreadyExists / NamespaceNotEmpty /
 * CommitConflict (reload and retry on a fresh base; so is a 400 for a stale sequence number or a snapshot id taken); on
 * a commit, 5xx (but 501 Not Implemented, CatalogRejected), a timeout or a broken connection → CommitStateUnknown (the caller looks for its
 * `k2.commit-id` before retrying); elsewhere they are CatalogUnavailable (transient; a read, GET or HEAD, whose
 * connection broke is sent once more first, a change never), but on `GET /v1/config`,
 * where 401/403/419 (credentials refused) and 404 (a wrong URI, prefix or warehouse) are CatalogRejected. 401 and
 * 419 (AuthenticationTimeout) refresh an OAuth2 token once, and a token with an `expires_in` is
 * renewed within a minute (or half its life) of expiring, before a request; a token endpoint refusing the
 * credentials (400, 401) is CatalogRejected. Redirects are followed only when the
 * request goes on unchanged (307/308, or a GET); a change redirected otherwise is CatalogRejected
 * (CommitStateUnknown for a commit answered 303). A change the `endpoints` of
 * `/v1/config` leave out is CatalogRejected without being sent.
 *
 * JSON is lossless: 64-bit snapshot ids and sequence numbers are `bigint` both ways.
 */
import { Clock, Duration, Effect, Layer, Option, Ref, Result } from "effect"
import { FetchHttpClient, HttpClient, type HttpClientError, HttpClientRequest } from "effect/http"
import { MetadataTooLarge, TableFileError } from "../../domain/iceberg/errors.ts"
import { stringifyJson } from "../../domain/iceberg/json.ts"
import { defaultTableLocation, metadataCache, type TableRequirement, type TableUpdate } from "../../domain/iceberg/metadata.ts"
import { JsonTooLarge, parseJsonBytes } from "../../domain/iceberg/jsonBytes.ts"
import { checkTableMetadata } from "../../domain/iceberg/metadataFile.ts"
import {
  AlreadyExists,
  Catalog,
  type CatalogError,
  catalogError,
  CatalogRejected,
  CatalogUnavailable,
  CommitConflict,
  CommitStateUnknown,
  type CreateTableRequest,
  type LoadedTable,
  NamespaceNotEmpty,
  NoSuchNamespace,
  NoSuchTable,
  showIdentifier,
  type TableIdentifier
} from "../../services/Catalog.ts"
import { unsendableHeaderValue } from "../../domain/headerValue.ts"
import { withoutCredentials } from "../../domain/urlCredentials.ts"
import { TRUST_HINT, untrustedCertificate } from "../untrustedCertificate.ts"
import { causesText } from "./failureText.ts"

export interface RestCatalogOptions {
  /** Base URI of the catalog, e.g. http://127.0.0.1:8181 (the `/v1/...` paths go below it). */
  readonly uri: string
  /** Name reported by `Catalog.name`. */
  readonly name?: string
  /** Warehouse to ask `GET /v1/config` for (some servers select a catalog by it). */
  readonly warehouse?: string
  /**
   * When set, new tables are created at `<tableLocationRoot>/<level>/.../<name>`, a directory for each
   * level of the server's namespace (parent levels included), as Java's catalogs place them (else the server decides).
   */
  readonly tableLocationRoot?: string
  /**
   * K2 namespaces live below this namespace on the server (levels separated by `.`): several
   * K2 deployments or test runs share one server without seeing each other's tables. Its levels are
   * made when it is missing; one that exists is only looked at (creating namespaces may be refused).
   */
  readonly parentNamespace?: string
  /** A fixed bearer token. */
  readonly token?: string
  /** OAuth2 client credentials `<client_id>:<client_secret>` (token from `<uri>/v1/oauth/tokens`). */
  readonly credential?: string
  readonly scope?: string
}

interface Reply {
  readonly status: number
  /** The body as received: a table's metadata may be more than a string holds (ADR-77). */
  readonly bytes: Uint8Array
  /** The body as text, decoded when first asked for. */
  readonly text: string
  /** The Location header of a redirect. */
  readonly location?: string | undefined
}

const replyOf = (status: number, bytes: Uint8Array, location: string | undefined): Reply => {
  let text: string | undefined
  return {
    status,
    bytes,
    location,
    get text() {
      return text ??= new TextDecoder().decode(bytes)
    }
  }
}

/** The first bytes of a body as text, for a message (the whole may be more than a string holds). */
const opening = (reply: Reply, bytes: number) => new TextDecoder().decode(reply.bytes.subarray(0, bytes))

const UNIT_SEPARATOR = "\u001f"

const errorMessage = (reply: Reply): string => {
  if (reply.status >= 300 && reply.status < 400) {
    // Left unfollowed: a change (POST, DELETE) answered with 301/302/303, and a redirect without a Location.
    return reply.location === undefined
      ? `${reply.status}: a redirect without a Location`
      : `${reply.status}: the server redirects to ${reply.location}, and a change is not resent there as a GET: configure that address instead`
  }
  try {
    const body = JSON.parse(reply.text) as { error?: string | { message?: string; type?: string }; error_description?: string }
    // An OAuth2 token endpoint's error is a code, its words beside it (RFC 6749 5.2).
    if (typeof body.error === "string") return `${reply.status} ${body.error}: ${body.error_description ?? ""}`.trim()
    if (body.error !== undefined) return `${reply.status} ${body.error.type ?? ""}: ${body.error.message ?? ""}`.trim()
  } catch {
    // not JSON
  }
  return `${reply.status} ${reply.text.slice(0, 300)}`
}

/** The `type` of an Iceberg ErrorModel answer (`NamespaceNotEmptyException`), if it is one. */
const errorType = (reply: Reply): string | undefined => {
  try {
    const body = JSON.parse(reply.text) as { error?: { type?: unknown } }
    return typeof body.error === "object" && body.error !== null && typeof body.error.type === "string" ? body.error.type : undefined
  } catch {
    return undefined
  }
}

/**
 * A snapshot numbered at or below the table's last: built on a base another commit has since passed
 * (one staged, or on another branch), so a conflict. Iceberg 1.10's server answers it with a 400
 * ValidationException; later ones with 409 (apache/iceberg#15126), as the SQL catalog does. So is a
 * snapshot id taken since: K2 draws one its base does not hold, and the retry draws on the new base.
 */
const staleSnapshot = (reply: Reply) =>
  reply.status === 400 &&
  (errorMessage(reply).includes("older than last sequence number") || errorMessage(reply).includes("Snapshot already exists for id"))

/** Statuses saying the credentials expired: the request was not processed (the spec's 419 is AuthenticationTimeout). */
const expiredCredentials = (status: number) => status === 401 || status === 419

const MAX_REDIRECTS = 5

/** 501: the server does not implement the request, so carried out none of it. */
const NOT_IMPLEMENTED = 501

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

/** Per request; a commit that times out is CommitStateUnknown. */
const REQUEST_TIMEOUT = Duration.seconds(30)

export const make = Effect.fnUntraced(function*(options: RestCatalogOptions) {
  const http = yield* HttpClient.HttpClient
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
  const base = options.uri.replace(/\/+$/, "")
  const parent = options.parentNamespace === undefined || options.parentNamespace === ""
    ? []
    : options.parentNamespace.split(".")
  // Decoded metadata by location: the server never rewrites a metadata file.
  const cache = metadataCache()
  // A fixed token never expires here: the server's 401 says when it does.
  const token = yield* Ref.make<{ readonly value: string; readonly renewAt: number } | undefined>(
    options.token === undefined ? undefined : { value: options.token, renewAt: Infinity }
  )

  const unavailable = (detail: string) => catalogError(new CatalogUnavailable({ detail }))
  /** A body that should be a JSON object: anything else (a proxy's HTML page) is the server failing, typed. */
  const jsonObject = (reply: Reply, what: string): Effect.Effect<Record<string, unknown>, CatalogError> => {
    try {
      const body: unknown = JSON.parse(reply.text)
      if (typeof body === "object" && body !== null && !Array.isArray(body)) return Effect.succeed(body as Record<string, unknown>)
    } catch {
      // not JSON
    }
    return Effect.fail(unavailable(`${what}: the answer is not a JSON object: ${reply.text.slice(0, 200)}`))
  }

  // --- transport -----------------------------------------------------------------------

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
    const request = HttpClientRequest.post(`${base}/v1/oauth/tokens`).pipe(
      HttpClientRequest.bodyText(form.toString(), "application/x-www-form-urlencoded")
    )
    const reply = yield* send(request, undefined)
    // 400 and 401 refuse the credentials themselves (invalid_client, invalid_grant): no retry helps.
    if (reply.status === 400 || reply.status === 401) {
      return yield* catalogError(new CatalogRejected({ detail: `OAuth2 token request refused: ${errorMessage(reply)}` }))
    }
    if (reply.status !== 200) return yield* unavailable(`OAuth2 token request failed: ${errorMessage(reply)}`)
    const answer = yield* jsonObject(reply, "OAuth2 token request")
    const accessToken = answer.access_token
    if (typeof accessToken !== "string") return yield* unavailable("OAuth2 token response has no access_token")
    const lifetimeMs = typeof answer.expires_in === "number" && answer.expires_in > 0 ? answer.expires_in * 1000 : Infinity
    const now = yield* Clock.currentTimeMillis
    yield* Ref.set(token, { value: accessToken, renewAt: now + lifetimeMs - Math.min(RENEW_AHEAD_MS, lifetimeMs / 2) })
    return accessToken
  })

  /**
   * One HTTP exchange, following the redirects that keep the request as it is (see redirectTarget);
   * a transport failure or timeout is CatalogUnavailable (callers may reclassify). A read whose
   * connection broke is sent once more (brokenConnection), within the same time limit.
   */
  const send = (request: HttpClientRequest.HttpClientRequest, bearer: string | undefined) =>
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
        // The token goes on to the same host only (on another port or scheme of it, too).
        if (target.hostname !== new URL(current.url).hostname) bearer = undefined
        current = HttpClientRequest.setUrl(current, target)
      }
    })

  const call = Effect.fnUntraced(function*(
    method: "GET" | "POST" | "DELETE" | "HEAD",
    path: string,
    body?: unknown,
    urlParams?: Readonly<Record<string, string>>,
    /** Reclassifies a failure once the request may have reached the server (not a token fetch's before it). */
    onSendFailure: (e: CatalogError) => CatalogError = (e) => e
  ) {
    let request = HttpClientRequest.make(method)(`${base}${path}`).pipe(HttpClientRequest.acceptJson)
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

  /**
   * An answer the operation does not expect: a 4xx refuses the request for good, except those
   * that may pass (credentials renewed, a timeout, a rate limit), and so does a redirect not followed
   * (the URI is wrong) or a 501 (the server does not implement it); anything else is the server failing.
   */
  const unexpected = (what: string, reply: Reply) =>
    (reply.status >= 300 && reply.status < 400) || reply.status === NOT_IMPLEMENTED ||
      (reply.status >= 400 && reply.status < 500 && ![401, 403, 408, 419, 429].includes(reply.status))
      ? catalogError(new CatalogRejected({ detail: `${what}: ${errorMessage(reply)}` }))
      : unavailable(`${what}: ${errorMessage(reply)}`)

  // --- configuration -------------------------------------------------------------------

  /**
   * `GET /v1/config` not answered 200. It is the first request, so its refusals are the settings'
   * fault and waiting will not mend them: credentials refused (401, 403, or 419 with none to renew;
   * a credential was already renewed once by `call`), or no catalog at that URI, prefix or warehouse (404).
   * Otherwise as any request (`unexpected`): a server failing or shedding load (5xx, 408, 429) may pass.
   */
  const configFailure = (reply: Reply) => {
    const what = `GET /v1/config at ${base}: ${errorMessage(reply)}`
    if ([401, 403, 419].includes(reply.status)) {
      const sent = options.token !== undefined || options.credential !== undefined ? "K2's credentials" : "a request without credentials"
      return catalogError(new CatalogRejected({
        detail: `${what}: the catalog refused ${sent}: check the token or client credentials (K2_REST_TOKEN, K2_REST_CREDENTIAL)`
      }))
    }
    if (reply.status === 404) {
      return catalogError(new CatalogRejected({
        detail: `${what}: no Iceberg REST catalog answers there: check the catalog URI (the address /v1/config is under)${
          options.warehouse === undefined ? "" : ` and the warehouse ${options.warehouse}`
        }`
      }))
    }
    return unexpected("GET /v1/config", reply)
  }

  const config = yield* call("GET", "/v1/config", undefined, options.warehouse === undefined ? undefined : {
    warehouse: options.warehouse
  })
  if (config.status !== 200) return yield* configFailure(config)
  const { overrides, defaults, endpoints } = (yield* jsonObject(config, "GET /v1/config")) as {
    overrides?: Record<string, unknown> | null
    defaults?: Record<string, unknown> | null
    endpoints?: unknown
  }
  // HEAD for existence is not in the spec's default endpoint set: a server that does not advertise
  // it (Iceberg 1.7 and older, others) is asked with GET, as Iceberg Java does.
  const advertised = new Set(Array.isArray(endpoints) ? endpoints.filter((e): e is string => typeof e === "string") : [])
  const existenceMethod = (path: string) => advertised.has(`HEAD ${path}`) ? "HEAD" as const : "GET" as const
  // A server that advertises its endpoints (a read-only one, say) is not sent a change it leaves out, as
  // Iceberg Java does: its 404 for the unknown route would read as "no such table".
  const offered = (endpoint: string) =>
    advertised.size === 0 || advertised.has(endpoint)
      ? Effect.void
      : Effect.fail(catalogError(new CatalogRejected({ detail: `the server does not offer ${endpoint}` })))
  const namespaceExistsMethod = existenceMethod("/v1/{prefix}/namespaces/{namespace}")
  const tableExistsMethod = existenceMethod("/v1/{prefix}/namespaces/{namespace}/tables/{table}")
  // The prefix is a path fragment the server chose, used as given (as Iceberg's ResourcePaths
  // does): it may hold a slash (Glue's `catalogs/<id>`) or be encoded already (an S3 Tables ARN).
  const configured = overrides?.prefix ?? defaults?.prefix
  const prefix = typeof configured === "string" ? configured.replace(/^\/+|\/+$/g, "") : undefined
  const root = prefix === undefined || prefix === "" ? "/v1" : `/v1/${prefix}`

  const levels = (namespace: string) => [...parent, ...namespace.split(".")]
  const nsPath = (namespace: string) => encodeURIComponent(levels(namespace).join(UNIT_SEPARATOR))
  const tablePath = (id: TableIdentifier) => `${root}/namespaces/${nsPath(id.namespace)}/tables/${encodeURIComponent(id.name)}`
  // The parent namespace levels exist before anything is created below them. One provisioned is only
  // looked at: K2's principal may be refused namespace creation (403), or the server not offer it.
  if (parent.length > 0) {
    const held = yield* call(namespaceExistsMethod, `${root}/namespaces/${encodeURIComponent(parent.join(UNIT_SEPARATOR))}`)
    if (held.status === 404) {
      yield* offered("POST /v1/{prefix}/namespaces")
      for (let i = 1; i <= parent.length; i++) {
        const reply = yield* call("POST", `${root}/namespaces`, { namespace: parent.slice(0, i), properties: {} })
        if (reply.status !== 200 && reply.status !== 409) return yield* unexpected("create parent namespace", reply)
      }
    } else if (held.status < 200 || held.status >= 300) {
      return yield* unexpected(`parent namespace ${parent.join(".")}`, held)
    }
  }

  /** A LoadTableResult / CommitTableResponse: metadata decoded once per location. */
  const loaded = (identifier: TableIdentifier, reply: Reply): Effect.Effect<LoadedTable, CatalogError> => {
    // Servers put metadata-location first; a cache hit skips decoding megabytes of metadata.
    const head = /"metadata-location"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(opening(reply, 4096))
    let hinted: string | undefined
    try {
      hinted = head === null ? undefined : JSON.parse(`"${head[1]}"`) as string
    } catch {
      // A broken escape: the whole body is not JSON either, and says so below.
    }
    const hit = hinted === undefined ? undefined : cache.get(hinted)
    if (hit !== undefined) return Effect.succeed({ identifier, metadataLocation: hinted!, metadata: hit })
    let raw: { "metadata-location"?: string; metadata?: unknown }
    try {
      raw = parseJsonBytes(reply.bytes) as typeof raw
    } catch (e) {
      return Effect.fail(
        e instanceof JsonTooLarge
          ? catalogError(new TableFileError({
            reason: new MetadataTooLarge({ table: showIdentifier(identifier), path: hinted ?? "(no metadata-location)", bytes: reply.bytes.length, member: e.pointer, memberBytes: e.bytes })
          }))
          : unavailable(`table response is not JSON: ${(e as Error).message}`)
      )
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      return Effect.fail(unavailable(`table response is not a JSON object: ${opening(reply, 200)}`))
    }
    const location = raw["metadata-location"] ?? "(no metadata-location)"
    // Checked as parsed: encoding it again to decode it once more doubled the work of every load.
    const decoded = checkTableMetadata(raw.metadata, location, showIdentifier(identifier))
    if (Result.isFailure(decoded)) return Effect.fail(catalogError(new TableFileError({ reason: decoded.failure })))
    if (raw["metadata-location"] !== undefined) cache.set(showIdentifier(identifier), location, decoded.success)
    return Effect.succeed({ identifier, metadataLocation: location, metadata: decoded.success })
  }

  const loadTable = Effect.fn("Catalog.loadTable")(function*(identifier: TableIdentifier) {
    const reply = yield* call("GET", tablePath(identifier))
    // Also when the server says its namespace is missing (NoSuchNamespaceException), as the SQL catalog
    // does: callers read a table not created yet (its namespace neither) as empty.
    if (reply.status === 404) return yield* catalogError(new NoSuchTable({ table: showIdentifier(identifier) }))
    if (reply.status !== 200) return yield* unexpected(`load ${showIdentifier(identifier)}`, reply)
    return yield* loaded(identifier, reply)
  })

  const namespaceExists = Effect.fn("Catalog.namespaceExists")(function*(namespace: string) {
    const reply = yield* call(namespaceExistsMethod, `${root}/namespaces/${nsPath(namespace)}`)
    if (reply.status === 404) return false
    if (reply.status >= 200 && reply.status < 300) return true
    return yield* unexpected(`namespace ${namespace}`, reply)
  })

  /** `body[key]` as an array of items `is` accepts (absent: none), or what is wrong with it. */
  const listOf = <A>(body: Record<string, unknown>, key: string, is: (item: unknown) => item is A): Result.Result<ReadonlyArray<A>, string> => {
    const items = body[key]
    if (items === undefined || items === null) return Result.succeed([])
    if (!Array.isArray(items)) return Result.fail(`${key} is not an array: ${JSON.stringify(items).slice(0, 200)}`)
    const bad = items.find((item) => !is(item))
    return bad === undefined ? Result.succeed(items as ReadonlyArray<A>) : Result.fail(`${key} holds ${JSON.stringify(bad).slice(0, 200)}`)
  }

  const listPaged = Effect.fnUntraced(function*<A>(
    path: string,
    params: Record<string, string>,
    /** The page's items, or what is wrong with them. */
    pick: (body: Record<string, unknown>) => Result.Result<ReadonlyArray<A>, string>,
    onMissing: () => CatalogError
  ) {
    const out: Array<A> = []
    const tokens = new Set<string>()
    let pageToken: string | undefined
    do {
      const reply = yield* call("GET", path, undefined, { ...params, ...(pageToken === undefined ? {} : { pageToken }) })
      if (reply.status === 404) return yield* onMissing()
      if (reply.status !== 200) return yield* unexpected(`list ${path}`, reply)
      const body = yield* jsonObject(reply, `list ${path}`)
      const items = pick(body)
      // A server answering another shape (an object for the list, a number for a name) is failing, typed, not a defect.
      if (Result.isFailure(items)) return yield* unavailable(`list ${path}: ${items.failure}`)
      out.push(...items.success)
      const next = body["next-page-token"]
      pageToken = typeof next === "string" && next.length > 0 ? next : undefined
      // A token handed out twice (a server ignoring pageToken) would page for ever, repeating rows.
      if (pageToken !== undefined) {
        if (tokens.has(pageToken)) return yield* unavailable(`list ${path}: the server repeated page token ${pageToken}`)
        tokens.add(pageToken)
      }
    } while (pageToken !== undefined)
    return out
  })

  return Catalog.of({
    name: options.name ?? "rest",

    createNamespace: Effect.fn("Catalog.createNamespace")(function*(namespace, properties = {}) {
      yield* offered("POST /v1/{prefix}/namespaces")
      const reply = yield* call("POST", `${root}/namespaces`, { namespace: levels(namespace), properties })
      if (reply.status === 409) return yield* catalogError(new AlreadyExists({ name: namespace }))
      if (reply.status !== 200) return yield* unexpected(`create namespace ${namespace}`, reply)
    }),

    listNamespaces: Effect.fn("Catalog.listNamespaces")(function*() {
      const namespaces = yield* listPaged(
        `${root}/namespaces`,
        parent.length === 0 ? {} : { parent: parent.join(UNIT_SEPARATOR) },
        (body) => listOf(body, "namespaces", (ns): ns is ReadonlyArray<string> => Array.isArray(ns) && ns.every((l) => typeof l === "string")),
        () => catalogError(new NoSuchNamespace({ namespace: parent.join(".") }))
      )
      return namespaces.map((levels) => levels.slice(parent.length).join(".")).sort()
    }),

    namespaceExists,

    dropNamespace: Effect.fn("Catalog.dropNamespace")(function*(namespace) {
      yield* offered("DELETE /v1/{prefix}/namespaces/{namespace}")
      const reply = yield* call("DELETE", `${root}/namespaces/${nsPath(namespace)}`)
      if (reply.status === 404) return yield* catalogError(new NoSuchNamespace({ namespace }))
      // The spec says 409; Iceberg's own RESTCatalogAdapter and servlet (and servers built on them) say 400, typed.
      if (reply.status === 409 || (reply.status === 400 && errorType(reply) === "NamespaceNotEmptyException")) {
        return yield* catalogError(new NamespaceNotEmpty({ namespace }))
      }
      if (reply.status < 200 || reply.status >= 300) return yield* unexpected(`drop namespace ${namespace}`, reply)
    }),

    createTable: Effect.fn("Catalog.createTable")(function*(identifier, request: CreateTableRequest) {
      yield* offered("POST /v1/{prefix}/namespaces/{namespace}/tables")
      // Some servers (JdbcCatalog) create a table in a namespace that does not exist: refuse first.
      if (!(yield* namespaceExists(identifier.namespace))) {
        return yield* catalogError(new NoSuchNamespace({ namespace: identifier.namespace }))
      }
      const location = request.location ??
        (options.tableLocationRoot === undefined
          ? undefined
          : defaultTableLocation(options.tableLocationRoot, levels(identifier.namespace), identifier.name))
      const reply = yield* call("POST", `${root}/namespaces/${nsPath(identifier.namespace)}/tables`, {
        name: identifier.name,
        ...(location === undefined ? {} : { location }),
        schema: request.schema,
        "partition-spec": request.spec,
        ...(request.sortOrder === null ? {} : { "write-order": request.sortOrder }),
        "stage-create": false,
        properties: {
          "format-version": "2",
          "write.format.default": "parquet",
          "write.parquet.compression-codec": "zstd",
          ...request.properties
        }
      })
      if (reply.status === 404) return yield* catalogError(new NoSuchNamespace({ namespace: identifier.namespace }))
      if (reply.status === 409) return yield* catalogError(new AlreadyExists({ name: showIdentifier(identifier) }))
      if (reply.status !== 200) return yield* unexpected(`create ${showIdentifier(identifier)}`, reply)
      return yield* loaded(identifier, reply)
    }),

    listTables: Effect.fn("Catalog.listTables")(function*(namespace) {
      const ids = yield* listPaged(
        `${root}/namespaces/${nsPath(namespace)}/tables`,
        {},
        (body) =>
          listOf(body, "identifiers", (id): id is { readonly name: string } =>
            typeof id === "object" && id !== null && typeof (id as { name?: unknown }).name === "string"),
        () => catalogError(new NoSuchNamespace({ namespace }))
      )
      return ids.map((id) => ({ namespace, name: id.name })).sort((a, b) => a.name.localeCompare(b.name))
    }),

    loadTable,

    tableExists: Effect.fn("Catalog.tableExists")(function*(identifier) {
      const reply = yield* call(tableExistsMethod, tablePath(identifier))
      if (reply.status === 404) return false
      if (reply.status >= 200 && reply.status < 300) return true
      return yield* unexpected(`table ${showIdentifier(identifier)}`, reply)
    }),

    dropTable: Effect.fn("Catalog.dropTable")(function*(identifier) {
      yield* offered("DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}")
      const reply = yield* call("DELETE", tablePath(identifier), undefined, { purgeRequested: "false" })
      if (reply.status === 404) return yield* catalogError(new NoSuchTable({ table: showIdentifier(identifier) }))
      if (reply.status < 200 || reply.status >= 300) return yield* unexpected(`drop ${showIdentifier(identifier)}`, reply)
    }),

    commitTable: Effect.fn("Catalog.commitTable")(function*(
      identifier,
      requirements: ReadonlyArray<TableRequirement>,
      updates: ReadonlyArray<TableUpdate>
    ) {
      yield* offered("POST /v1/{prefix}/namespaces/{namespace}/tables/{table}")
      const table = showIdentifier(identifier)
      const unknown = (detail: string) => catalogError(new CommitStateUnknown({ table, detail }))
      const reply = yield* call(
        "POST",
        tablePath(identifier),
        { identifier: { namespace: levels(identifier.namespace), name: identifier.name }, requirements, updates },
        undefined,
        // The request may have reached the server before the connection broke or timed out; a token
        // endpoint failing before it was sent leaves it surely not landed, as does a certificate
        // refused in the handshake (CatalogRejected).
        (e) => e.reason._tag === "CatalogRejected" ? e : unknown(e.message)
      )
      // Accepted: an answer that does not decode says nothing of what landed, so the caller must
      // look (and keep the commit's files) rather than take it as refused.
      if (reply.status === 200) return yield* Effect.mapError(loaded(identifier, reply), (e) => unknown(`accepted, but ${e.message}`))
      if (reply.status === 409 || staleSnapshot(reply)) return yield* catalogError(new CommitConflict({ table, detail: errorMessage(reply) }))
      if (reply.status === 404) return yield* catalogError(new NoSuchTable({ table }))
      // Another 2xx (a gateway's 202 Accepted, a 204) or a 303 See Other may answer a request carried out;
      // a 501 says the server does not implement the route (Iceberg Java: UnsupportedOperationException).
      if ((reply.status >= 500 && reply.status !== NOT_IMPLEMENTED) || reply.status === 303 || (reply.status >= 200 && reply.status < 300)) {
        return yield* unknown(errorMessage(reply))
      }
      // A redirect it was not sent on (301, 302: not carried out), 400 (a bad update), 501 or 401/403/419: the commit was refused, it did not land.
      return yield* unexpected(`commit ${table}`, reply)
    })
  })
})

/**
 * The REST catalog over Node's fetch. Redirects are followed by `send`, not by fetch: fetch resends a
 * POST answered with 301 or 302 as a GET.
 */
export const layer = (options: RestCatalogOptions) =>
  Layer.effect(Catalog)(make(options)).pipe(
    Layer.provide(FetchHttpClient.layer),
    Layer.provide(Layer.succeed(FetchHttpClient.RequestInit)({ redirect: "manual" }))
  )

