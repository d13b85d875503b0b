/**
 * Server settings: API keys (as SHA-256 hashes), scopes, rate limit, CORS and the limits
 * every request is held to. `fromEnv` reads them from K2_API_* (docs/api.md).
 */
import { hash } from "node:crypto"
import { createSecureContext } from "node:tls"
import { Config, Effect, Option, Redacted, Result, Schema } from "effect"
import { IpNetwork, NetAddress } from "effect/net"
import { type PemKind, readPemFile } from "../pemFiles.ts"
import { integer } from "../settings.ts"
import { MAX_LIMIT, MAX_SYMBOLS } from "../../domain/query/validate.ts"
import { MAX_TIME_LIMIT_MS } from "./sandboxPool.ts"

const SCOPES = ["read", "replay", "sql", "metrics"] as const
export type Scope = (typeof SCOPES)[number]

export interface ApiKey {
  readonly name: string
  /** Lowercase hex SHA-256 of the key; the key itself is never held. */
  readonly sha256: string
  readonly scopes: ReadonlySet<Scope>
}

export interface ServerOptions {
  /** `required`: every /v1 route needs a key. `off`: anonymous access (development only). */
  readonly auth: "required" | "off"
  readonly keys: ReadonlyArray<ApiKey>
  /** Requests per window per key (per client address when anonymous). */
  readonly rateLimit: number
  readonly rateWindowSeconds: number
  /** Allowed CORS origins; empty: no CORS headers. `*` allows any origin. */
  readonly corsOrigins: ReadonlyArray<string>
  readonly metricsRequireKey: boolean
  /** Widest time range of one request (days). */
  readonly maxRangeDays: number
  /** Rows per JSON page. */
  readonly maxPageRows: number
  /** Rows of one CSV/Parquet export. */
  readonly maxExportRows: number
  /** Bars (or quote bars) of one answer: built whole in memory, so past it the request is refused. */
  readonly maxBars: number
  readonly maxSymbols: number
  readonly queryTimeoutMs: number
  readonly sqlTimeoutMs: number
  readonly sqlMaxRows: number
  /** Bytes of one SQL answer's rows (estimated as JSON while they are converted); past it the answer is cut. */
  readonly sqlMaxBytes: number
  readonly maxBodyBytes: number
  /** Bytes of cached response bodies (immutable answers keyed by ETag); 0 disables the cache. */
  readonly cacheBytes: number
  /**
   * Replays and CSV exports streaming at once (streamSlots.ts), and at once per key (per client
   * address when anonymous): each holds rows in memory while its client reads, a stalled one too.
   */
  readonly maxStreams: number
  readonly maxStreamsPerKey: number
  /**
   * The reverse proxies (load balancers, ingresses) whose connections carry the client's address in
   * `clientAddressHeader` (forwarded.ts); none by default: the client is the socket's peer.
   */
  readonly trustedProxies: ReadonlyArray<IpNetwork.IpNetwork>
  readonly clientAddressHeader: ClientAddressHeader
}

/** The header a trusted proxy names the client in: one only, as a proxy passes the other on as the client sent it. */
export type ClientAddressHeader = "x-forwarded-for" | "forwarded"

export const defaults: ServerOptions = {
  auth: "required",
  keys: [],
  rateLimit: 600,
  rateWindowSeconds: 60,
  corsOrigins: [],
  metricsRequireKey: false,
  maxRangeDays: 366,
  maxPageRows: 10_000,
  maxExportRows: 5_000_000,
  maxBars: 100_000,
  maxSymbols: 1_000,
  queryTimeoutMs: 30_000,
  sqlTimeoutMs: 10_000,
  sqlMaxRows: 100_000,
  sqlMaxBytes: 32 * 1024 * 1024,
  maxBodyBytes: 64 * 1024,
  cacheBytes: 64 * 1024 * 1024,
  // A stalled replay holds ~20-23 MB (two windows of 50,000 rows), a CSV export ~3 MB: 16 held at
  // most ~370 MB of heap beside the idle ~50 MB; 4 a key leaves 12 to the others.
  maxStreams: 16,
  maxStreamsPerKey: 4,
  trustedProxies: [],
  clientAddressHeader: "x-forwarded-for"
}

export class InvalidServerConfig extends Schema.TaggedError<InvalidServerConfig>()("InvalidServerConfig", {
  detail: Schema.String
}) {
  override get message() {
    return `invalid server configuration: ${this.detail}`
  }
}

// One-shot `hash`: half the cost of createHash().update().digest().
export const sha256Hex = (key: string | Buffer) => hash("sha256", key, "hex")

/**
 * `name:sha256hex:scope+scope,...` (scopes read, replay, sql, metrics, or `*` for all).
 * Errors name the entry by its position and name, never by its hash.
 */
export const parseKeys = (text: string): ReadonlyArray<ApiKey> | InvalidServerConfig => {
  const out: Array<ApiKey> = []
  const entries = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
  for (const [i, entry] of entries.entries()) {
    // Spaces around a field are not part of it (as around a scope): `alice : <hash> : read` was
    // refused as not name:sha256:scopes, or its hash as not 64 hex digits.
    const fields = entry.split(":").map((f) => f.trim())
    const [name = "", hash = "", scopes = ""] = fields
    if (fields.length === 1 && (SCOPES as ReadonlyArray<string>).includes(name)) {
      // `alice:<hash>:read,sql` reads `sql` as an entry of its own.
      return new InvalidServerConfig({ detail: `K2_API_KEYS entry ${i + 1} is not name:sha256:scopes: join scopes with + (read+sql), not ','` })
    }
    if (fields.length < 3) {
      // Not repeated: an entry of one field is most likely a key pasted in place of the entry, and
      // one of two a key pasted where the name goes (`<key>:read`), which the hash's refusal named.
      return new InvalidServerConfig({
        detail: `K2_API_KEYS entry ${i + 1} is not name:sha256:scopes: it has ${fields.length === 1 ? "1 field (no ':')" : "2 fields"}; ` +
          "give the key's name, the sha256 of the key and its scopes"
      })
    }
    if (fields.length > 3) {
      return new InvalidServerConfig({
        detail: `K2_API_KEYS entry ${i + 1} is not name:sha256:scopes: it has ${fields.length} fields separated by ':' (entries are separated by ',')`
      })
    }
    // Not repeated in the message: what stands there may be a key pasted in the wrong place.
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
      return new InvalidServerConfig({ detail: `K2_API_KEYS entry ${i + 1}: the name must be 1 to 64 letters, digits, '.', '_' or '-' (name:sha256:scopes)` })
    }
    if (!/^[0-9a-fA-F]{64}$/.test(hash)) {
      return new InvalidServerConfig({ detail: `K2_API_KEYS entry ${i + 1} (${name}): the hash must be 64 hex digits (sha256 of the key)` })
    }
    const list = scopes.split("+").map((s) => s.trim()).filter((s) => s.length > 0)
    const set = new Set<Scope>()
    for (const s of list) {
      if (s === "*") SCOPES.forEach((x) => set.add(x))
      else if ((SCOPES as ReadonlyArray<string>).includes(s)) set.add(s as Scope)
      else return new InvalidServerConfig({ detail: `K2_API_KEYS entry ${i + 1} (${name}): unknown scope ${JSON.stringify(s)}; scopes: ${SCOPES.join(", ")}, *` })
    }
    if (set.size === 0) return new InvalidServerConfig({ detail: `K2_API_KEYS entry ${i + 1} (${name}) has no scope` })
    const sha256 = hash.toLowerCase()
    // A name is its key's rate-limit principal, and a hash finds one key: either twice would merge two keys.
    const same = out.findIndex((k) => k.name === name || k.sha256 === sha256)
    if (same >= 0) {
      const what = out[same]!.name === name ? "name" : "hash"
      return new InvalidServerConfig({ detail: `K2_API_KEYS entry ${same + 1} (${out[same]!.name}) and entry ${i + 1} (${name}) have the same ${what}` })
    }
    out.push({ name, sha256, scopes: set })
  }
  return out
}

/**
 * An integer setting of at least `min`: 0 or less made no sense and broke things quietly (a rate
 * window of 0 s counted no request at all, a time limit of 0 failed every read).
 */
const int = (name: string, fallback: number, min = 1, max = Number.MAX_SAFE_INTEGER) =>
  integer(name).pipe(
    Config.withDefault(fallback),
    Effect.flatMap((value) =>
      value < min
        ? Effect.fail(new InvalidServerConfig({ detail: `${name} must be at least ${min}, got ${value}` }))
        : value > max
        ? Effect.fail(new InvalidServerConfig({ detail: `${name} must be at most ${max}, got ${value}` }))
        : Effect.succeed(value))
  )

/**
 * K2_API_CORS_ORIGINS: `*` or origins as a browser sends them in `Origin` (scheme://host[:port],
 * lowercase, no default port, no path), which are matched exactly: another entry
 * (`https://app.example.com/`) allowed no one, and CORS failed in the browser without a word here.
 */
const parseCorsOrigins = (text: string): ReadonlyArray<string> | InvalidServerConfig => {
  const entries = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
  for (const entry of entries) {
    const url = URL.canParse(entry) ? new URL(entry) : undefined
    const web = url !== undefined && (url.protocol === "http:" || url.protocol === "https:")
    // Another scheme (chrome-extension://id) is taken as written; "null", any opaque page's, never by name.
    if (entry === "*" || (web ? url.origin === entry : /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]+$/.test(entry))) continue
    return new InvalidServerConfig({
      detail: `K2_API_CORS_ORIGINS: ${JSON.stringify(entry)} is not an origin (* or scheme://host[:port] as a browser sends it)` +
        (web ? `; did you mean ${url.origin}?` : "")
    })
  }
  return entries
}

/** The names K2_API_TRUSTED_PROXIES takes for sets of networks. */
const NAMED_NETWORKS: Readonly<Record<string, ReadonlyArray<string>>> = {
  loopback: ["127.0.0.0/8", "::1/128"],
  // RFC 1918 and RFC 4193: a cluster's pod and node networks (any host there may then name a client).
  private: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]
}

/**
 * K2_API_TRUSTED_PROXIES: addresses, CIDR networks (IPv4 or IPv6), `loopback` or `private`,
 * comma-separated. An address is a network of its own; a network with host bits set
 * (10.1.2.3/8) is refused, as it is most likely a typo for an address or another network.
 */
export const parseTrustedProxies = (text: string): ReadonlyArray<IpNetwork.IpNetwork> | InvalidServerConfig => {
  const out: Array<IpNetwork.IpNetwork> = []
  for (const entry of text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
    const named = NAMED_NETWORKS[entry.toLowerCase()]
    if (named !== undefined) {
      out.push(...named.map((n) => IpNetwork.fromStringUnsafe(n)))
      continue
    }
    const address = entry.includes("/") ? undefined : NetAddress.ipFromString(entry)
    if (address !== undefined && Result.isSuccess(address)) {
      const canonical = NetAddress.toCanonical(address.success)
      out.push(IpNetwork.fromAddressUnsafe(canonical, NetAddress.width(canonical)))
      continue
    }
    const network = IpNetwork.fromString(entry)
    if (Result.isSuccess(network)) {
      out.push(network.success)
      continue
    }
    const why = entry.includes("/") ? `: ${network.failure.message}` : ""
    return new InvalidServerConfig({
      detail: `K2_API_TRUSTED_PROXIES: ${JSON.stringify(entry.slice(0, 64))} is not an address, a network (10.0.0.0/8, fd00::/8), loopback or private${why}`
    })
  }
  return out
}

/** The certificate and key of HTTPS served directly (K2_API_TLS_CERT_FILE, K2_API_TLS_KEY_FILE). */
export interface ServerTls {
  readonly cert: string
  readonly key: Redacted.Redacted<string>
}

/** A PEM file a variable names, read now (pemFiles.ts). */
const pemFile = (variable: string, file: string, kind: PemKind) =>
  Effect.fromResult(readPemFile(variable, file, kind)).pipe(Effect.mapError((detail) => new InvalidServerConfig({ detail })))

/**
 * HTTPS, when both K2_API_TLS_CERT_FILE and K2_API_TLS_KEY_FILE are set: read and checked as a pair
 * now, so that a mistake stops the start (exit 2) rather than failing every handshake.
 */
export const tlsFromEnv = Effect.gen(function*() {
  const certFile = Option.getOrUndefined(yield* Config.option(Config.String("K2_API_TLS_CERT_FILE"))) || undefined
  const keyFile = Option.getOrUndefined(yield* Config.option(Config.String("K2_API_TLS_KEY_FILE"))) || undefined
  if (certFile === undefined && keyFile === undefined) return undefined
  if (certFile === undefined || keyFile === undefined) {
    const [given, missing] = certFile === undefined ? ["K2_API_TLS_KEY_FILE", "K2_API_TLS_CERT_FILE"] : ["K2_API_TLS_CERT_FILE", "K2_API_TLS_KEY_FILE"]
    return yield* new InvalidServerConfig({ detail: `${given} without ${missing}: HTTPS needs both (PEM files)` })
  }
  const cert = yield* pemFile("K2_API_TLS_CERT_FILE", certFile, "certificate")
  const key = yield* pemFile("K2_API_TLS_KEY_FILE", keyFile, "private key")
  // OpenSSL's reason (key values mismatch, bad decrypt for a key with a passphrase) names no content.
  yield* Effect.try({
    try: () => createSecureContext({ cert, key }),
    catch: (e) =>
      new InvalidServerConfig({
        detail: `K2_API_TLS_CERT_FILE and K2_API_TLS_KEY_FILE: ${certFile} and ${keyFile} are not a certificate and its key (${e instanceof Error ? e.message : String(e)})`
      })
  })
  const tls: ServerTls = { cert, key: Redacted.make(key) }
  return tls
})

/** The options from K2_API_* variables; refuses to start with auth required and no key. */
export const fromEnv = Effect.gen(function*() {
  const keysText = yield* Config.option(Config.String("K2_API_KEYS"))
  const authText = yield* Config.String("K2_API_AUTH").pipe(Config.withDefault("required"))
  if (authText !== "required" && authText !== "off") {
    return yield* new InvalidServerConfig({ detail: `K2_API_AUTH must be required or off, got ${JSON.stringify(authText)}` })
  }
  const keys = Option.isSome(keysText) ? parseKeys(keysText.value) : []
  if (keys instanceof InvalidServerConfig) return yield* keys
  if (authText === "required" && keys.length === 0) {
    return yield* new InvalidServerConfig({
      detail: "no API keys: set K2_API_KEYS=name:<sha256 of the key>:read+replay+sql, or K2_API_AUTH=off for anonymous access (development only)"
    })
  }
  const corsOrigins = parseCorsOrigins(yield* Config.String("K2_API_CORS_ORIGINS").pipe(Config.withDefault("")))
  if (corsOrigins instanceof InvalidServerConfig) return yield* corsOrigins
  const trustedProxies = parseTrustedProxies(yield* Config.String("K2_API_TRUSTED_PROXIES").pipe(Config.withDefault("")))
  if (trustedProxies instanceof InvalidServerConfig) return yield* trustedProxies
  // Empty reads as unset, as for the other settings.
  const headerText = Option.filter(Option.map(yield* Config.option(Config.String("K2_API_CLIENT_ADDRESS_HEADER")), (h) => h.trim().toLowerCase()), (h) => h !== "")
  const clientAddressHeader = Option.getOrElse(headerText, () => defaults.clientAddressHeader)
  if (clientAddressHeader !== "x-forwarded-for" && clientAddressHeader !== "forwarded") {
    return yield* new InvalidServerConfig({ detail: `K2_API_CLIENT_ADDRESS_HEADER must be x-forwarded-for or forwarded, got ${JSON.stringify(clientAddressHeader.slice(0, 64))}` })
  }
  // Else it would be ignored without a word: headers are read from trusted proxies only.
  if (Option.isSome(headerText) && trustedProxies.length === 0) {
    return yield* new InvalidServerConfig({ detail: "K2_API_CLIENT_ADDRESS_HEADER is set but K2_API_TRUSTED_PROXIES is not: set the proxies whose header is read" })
  }
  const options: ServerOptions = {
    auth: authText,
    keys,
    rateLimit: yield* int("K2_API_RATE_LIMIT", defaults.rateLimit),
    rateWindowSeconds: yield* int("K2_API_RATE_WINDOW_SECONDS", defaults.rateWindowSeconds),
    corsOrigins,
    metricsRequireKey: (yield* Config.Boolean("K2_API_METRICS_REQUIRE_KEY").pipe(Config.withDefault(false))),
    maxRangeDays: yield* int("K2_API_MAX_RANGE_DAYS", defaults.maxRangeDays),
    // The query engine reads at most MAX_LIMIT rows a page.
    maxPageRows: yield* int("K2_API_MAX_PAGE_ROWS", defaults.maxPageRows, 1, MAX_LIMIT),
    maxExportRows: yield* int("K2_API_MAX_EXPORT_ROWS", defaults.maxExportRows),
    maxBars: yield* int("K2_API_MAX_BARS", defaults.maxBars),
    // The query engine takes at most MAX_SYMBOLS symbols a request.
    maxSymbols: yield* int("K2_API_MAX_SYMBOLS", defaults.maxSymbols, 1, MAX_SYMBOLS),
    // Exports run in the SQL sandbox under this limit too: both within what its kill timer holds.
    queryTimeoutMs: yield* int("K2_API_QUERY_TIMEOUT_MS", defaults.queryTimeoutMs, 1, MAX_TIME_LIMIT_MS),
    sqlTimeoutMs: yield* int("K2_API_SQL_TIMEOUT_MS", defaults.sqlTimeoutMs, 1, MAX_TIME_LIMIT_MS),
    sqlMaxRows: yield* int("K2_API_SQL_MAX_ROWS", defaults.sqlMaxRows),
    sqlMaxBytes: yield* int("K2_API_SQL_MAX_BYTES", defaults.sqlMaxBytes),
    maxBodyBytes: yield* int("K2_API_MAX_BODY_BYTES", defaults.maxBodyBytes),
    cacheBytes: yield* int("K2_API_CACHE_BYTES", defaults.cacheBytes, 0),
    maxStreams: yield* int("K2_API_MAX_STREAMS", defaults.maxStreams),
    maxStreamsPerKey: yield* int("K2_API_MAX_STREAMS_PER_KEY", defaults.maxStreamsPerKey),
    trustedProxies,
    clientAddressHeader
  }
  return options
})
