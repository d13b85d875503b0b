/**
 * Who is calling. The request pipeline authenticates the presented key once per request and
 * publishes the caller as `CurrentPrincipal`; the matched route's access middleware authorizes
 * it against the scope the route declares, with the same answers (`refusal`).
 */
import { Context } from "effect"
import type { HttpServerRequest, HttpServerResponse } from "effect/http"
import { type ApiKey, type Scope, sha256Hex } from "./config.ts"
import { problem } from "./respond.ts"

export type Principal =
  /** A known key: its name (also its rate-limit principal) and scopes. */
  | { readonly _tag: "Key"; readonly name: string; readonly scopes: ReadonlySet<Scope> }
  /** No key, or one no entry of K2_API_KEYS hashes to. */
  | { readonly _tag: "Anonymous"; readonly credential: "missing" | "unknown" }
  /** K2_API_AUTH=off: anyone may call every route (development only). */
  | { readonly _tag: "Open" }

const missing: Principal = { _tag: "Anonymous", credential: "missing" }
const unknown: Principal = { _tag: "Anonymous", credential: "unknown" }
const open: Principal = { _tag: "Open" }

/** Anonymous until the pipeline says otherwise: a request that did not pass it has no access. */
export const CurrentPrincipal = Context.Reference<Principal>("k2/http/CurrentPrincipal", { defaultValue: () => missing })

/**
 * What an anonymous caller is counted as (rate limit, stream slots, its turn for a DuckDB connection):
 * its client address, which the pipeline has made the one a trusted proxy forwarded (forwarded.ts
 * `behindProxies`). An IPv6 client is its /64: one host is given a whole /64 and can send each request
 * from another address in it. An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`), or one NAT64's
 * well-known prefix carries (`64:ff9b::192.0.2.1`), is its IPv4 address.
 */
export const clientAddress = (request: HttpServerRequest.HttpServerRequest): string =>
  `addr:${request.remoteAddress._tag === "Some" ? counted(request.remoteAddress.value) : "unknown"}`

/** An address as it is counted (clientAddress): IPv4 as written, IPv6 by its /64 (`2001:db8:1:2::/64`). */
const counted = (address: string): string => {
  if (!address.includes(":")) return address
  let host: string
  try {
    // WHATWG URL canonicalizes an IPv6 literal: lower case, `::` compressed, an IPv4 tail in hex.
    host = new URL(`http://[${address.replace(/%.*$/, "")}]`).hostname.slice(1, -1)
  } catch {
    return address
  }
  const [left, right] = host.split("::") as [string, string | undefined]
  const head = left === "" ? [] : left.split(":")
  const tail = right === undefined || right === "" ? [] : right.split(":")
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill("0"), ...tail].map((g) => parseInt(g, 16))
  // IPv4-mapped (::ffff:0:0/96), or translated by a NAT64/SIIT at the well-known prefix (64:ff9b::/96,
  // RFC 6052): one IPv4 client, not one /64 for every IPv4 client there is.
  const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff
  const translated = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0)
  if (mapped || translated) {
    return [groups[6]! >> 8, groups[6]! & 255, groups[7]! >> 8, groups[7]! & 255].join(".")
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`
}

/** The key presented as X-API-Key or Authorization: Bearer. */
const credential = (headers: Readonly<Record<string, string | undefined>>): string | undefined => {
  const key = headers["x-api-key"]
  if (key !== undefined && key.length > 0) return key
  const auth = headers["authorization"]
  if (auth !== undefined) {
    const m = /^Bearer +(\S+)\s*$/i.exec(auth)
    if (m) return m[1]
  }
  return undefined
}

/**
 * The SHA-256 of a key as its client sent it: Node hands a header's bytes over one character a byte
 * (latin1), so they are hashed as those bytes. Hashed as a string (its UTF-8), a key with a character
 * outside ASCII, hashed from its UTF-8 bytes as docs/api.md has the operator do, was never known.
 */
const sha256OfSent = (presented: string) => sha256Hex(Buffer.from(presented, "latin1"))

/** The caller of a request with these headers. Only hashes are held: a key never outlives its request. */
export const authenticator = (options: { readonly auth: "required" | "off"; readonly keys: ReadonlyArray<ApiKey> }) => {
  const byHash = new Map<string, Principal>(options.keys.map((k) => [k.sha256, { _tag: "Key", name: k.name, scopes: k.scopes }]))
  return (headers: Readonly<Record<string, string | undefined>>): Principal => {
    if (options.auth === "off") return open
    const presented = credential(headers)
    if (presented === undefined) return missing
    return (presented.length <= 512 ? byHash.get(sha256OfSent(presented)) : undefined) ?? unknown
  }
}

/** The answer refusing `principal` a route that needs `scope` (401 or 403), or undefined when it may call it. */
export const refusal = (principal: Principal, scope: Scope, correlationId: string): HttpServerResponse.HttpServerResponse | undefined => {
  switch (principal._tag) {
    case "Open":
      return undefined
    case "Key":
      return principal.scopes.has(scope) ? undefined : problem(403, "forbidden", `this key has no ${scope} access`, correlationId)
    case "Anonymous":
      return principal.credential === "missing"
        ? problem(401, "unauthorized", "an API key is required (X-API-Key header or Authorization: Bearer)", correlationId, {
          "www-authenticate": "Bearer realm=\"k2\", ApiKey header=\"X-API-Key\""
        })
        // RFC 6750 §3.1: a key presented and refused is `invalid_token`; a request without one gets no error code.
        : problem(401, "unauthorized", "unknown API key", correlationId, { "www-authenticate": "Bearer realm=\"k2\", error=\"invalid_token\"" })
  }
}
