/** The headers that say what a read answered from: its ETag, its cache policy and K2-Snapshot-Ids. */
import type { Format } from "../../domain/api/params.ts"
import type { Pinned } from "../query/pinning.ts"
import { strongEtag } from "./respond.ts"

/** The canonical form of a request's query: parameters sorted, so equivalent URLs share an ETag. */
const canonicalQuery = (url: string) => {
  const i = url.indexOf("?")
  if (i < 0) return ""
  const params = new URLSearchParams(url.slice(i + 1))
  params.sort()
  return params.toString()
}

/**
 * Names exactly one representation: the route, the query, the format, the pinned snapshots, the
 * encoding, and `settings`, a fingerprint of the server settings the answer depends on besides its
 * snapshots (a summary's trading-day zones, ADR-98; a page's length without `limit`, ADR-107).
 */
export const etagOf = (route: string, url: string, format: Format, pinned: Pinned, gzip = false, settings?: string) =>
  strongEtag([route, canonicalQuery(url), format, JSON.stringify(pinned.ids), pinned.revision, ...(gzip ? ["gzip"] : []), ...(settings === undefined ? [] : [`settings:${settings}`])])

/** K2-Snapshot-Ids: `table=id` per table, `none` for a table with no snapshot. */
export const snapshotIdsHeader = (pinned: Pinned) => Object.entries(pinned.ids).map(([t, id]) => `${t}=${id ?? "none"}`).join(", ")

/**
 * `immutable` only for an answer of its snapshots alone: one that also depends on server settings
 * (`settings`, ADR-98) an operator may change and restart with is revalidated (no-cache), so its
 * ETag, which names them, is asked about again.
 */
export const cacheHeaders = (etag: string, pinned: Pinned, settings?: string) => ({
  etag,
  "cache-control": pinned.immutable && settings === undefined ? "private, max-age=31536000, immutable" : "private, no-cache",
  "k2-snapshot-ids": snapshotIdsHeader(pinned),
  vary: "Accept, Accept-Encoding, Authorization, X-API-Key"
})
