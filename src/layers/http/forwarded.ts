/**
 * The client's address behind reverse proxies (K2_API_TRUSTED_PROXIES): the socket's peer is the
 * nearest proxy, which names the client in X-Forwarded-For or RFC 7239 Forwarded. Each proxy
 * appends the address it received the request from, so the list is read from its right: the
 * first address that is not a trusted proxy is the client. The left-most is never taken as
 * such: the client wrote it. From a peer that is not trusted the headers are ignored (ADR-58).
 */
import { Option, Result } from "effect"
import type { HttpServerRequest } from "effect/http"
import { IpNetwork, NetAddress } from "effect/net"
import type { ClientAddressHeader } from "./config.ts"

/** An address a hop named, canonical (IPv4-mapped IPv6 as IPv4); undefined: not an address (`unknown`, `_hidden`, garbage). */
type Hop = NetAddress.IpAddress | undefined

/** An address as proxies write it: bare, `[v6]`, `v4:port` or `[v6]:port`. */
const addressOf = (text: string): Hop => {
  let s = text.trim()
  if (s.startsWith("[")) {
    const end = s.indexOf("]")
    if (end < 0 || (end + 1 < s.length && !/^:\d{1,5}$/.test(s.slice(end + 1)))) return undefined
    s = s.slice(1, end)
  } else if (/^[0-9.]+:\d{1,5}$/.test(s)) {
    s = s.slice(0, s.indexOf(":"))
  }
  const ip = NetAddress.ipFromString(s)
  return Result.isSuccess(ip) ? NetAddress.toCanonical(ip.success) : undefined
}

/** Splits at `separator` outside quoted strings; undefined when a quote is left open. */
const splitOutsideQuotes = (text: string, separator: string): Array<string> | undefined => {
  const parts: Array<string> = []
  let start = 0
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted && c === "\\") i++
    else if (c === "\"") quoted = !quoted
    else if (!quoted && c === separator) {
      parts.push(text.slice(start, i))
      start = i + 1
    }
  }
  if (quoted) return undefined
  parts.push(text.slice(start))
  return parts
}

/** A Forwarded value: a token, or a quoted string unescaped. */
const unquoted = (value: string) => value.startsWith("\"") && value.endsWith("\"") && value.length >= 2 ? value.slice(1, -1).replace(/\\(.)/g, "$1") : value

/**
 * The hops the header names, left (farthest) to right (nearest); undefined when there is no header
 * or it cannot be read as a whole (a quote left open). A Forwarded element without `for=` is a hop
 * that did not say: not an address.
 */
const hopsOf = (header: ClientAddressHeader, value: string | undefined): ReadonlyArray<Hop> | undefined => {
  if (value === undefined || value.trim() === "") return undefined
  if (header === "x-forwarded-for") return value.split(",").map(addressOf)
  const elements = splitOutsideQuotes(value, ",")
  if (elements === undefined) return undefined
  const hops: Array<Hop> = []
  for (const element of elements) {
    const pairs = splitOutsideQuotes(element, ";") ?? []
    const forPair = pairs.map((p) => p.trim()).find((p) => /^for\s*=/i.test(p))
    hops.push(forPair === undefined ? undefined : addressOf(unquoted(forPair.slice(forPair.indexOf("=") + 1).trim())))
  }
  return hops
}

const trustedBy = (proxies: ReadonlyArray<IpNetwork.IpNetwork>) => (address: NetAddress.IpAddress) =>
  proxies.some((network) => IpNetwork.contains(network, address))

/**
 * The client's address: `peer` unless it is a trusted proxy naming one. Walking from the right,
 * trusted proxies are passed; the first other address is the client; a hop that is not an address
 * (`unknown`) leaves the peer; every hop trusted, the left-most (a request from a proxy's own host).
 */
export const clientOf = (
  peer: string | undefined,
  header: ClientAddressHeader,
  value: string | undefined,
  proxies: ReadonlyArray<IpNetwork.IpNetwork>
): string | undefined => {
  const from = peer === undefined ? undefined : addressOf(peer)
  const trusted = trustedBy(proxies)
  if (from === undefined || !trusted(from)) return peer
  const hops = hopsOf(header, value)
  if (hops === undefined || hops.length === 0) return peer
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]
    if (hop === undefined) return peer
    if (i === 0 || !trusted(hop)) return NetAddress.formatIp(hop)
  }
  return peer
}

/**
 * The request as the routes see it: `remoteAddress` the client's (the access log, rate limits and
 * stream slots count it), `peerAddress` still the socket's. Unchanged when no proxy is trusted.
 */
export const behindProxies = (options: { readonly trustedProxies: ReadonlyArray<IpNetwork.IpNetwork>; readonly clientAddressHeader: ClientAddressHeader }) =>
(request: HttpServerRequest.HttpServerRequest): HttpServerRequest.HttpServerRequest => {
  if (options.trustedProxies.length === 0) return request
  const peer = Option.getOrUndefined(request.peerAddress)
  const client = clientOf(peer, options.clientAddressHeader, request.headers[options.clientAddressHeader], options.trustedProxies)
  return client === peer ? request : request.modify({ remoteAddress: Option.some(client!), peerAddress: request.peerAddress })
}
