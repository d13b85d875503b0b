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

/** Names exactly one representation: the route, the query, the format, the pinned snapshots and the encoding. */
export const etagOf = (route: string, url: string, format: Format, pinned: Pinned, gzip = false) =>
  strongEtag([route, canonicalQuery(url), format, JSON.stringify(pinned.ids), pinned.revision, ...(gzip ? ["gzip"] : [])])

/** K2-Snapshot-Ids: `table=id` per table, `none` for a table with no snapshot. */
export const snapshotIdsHeader = (pinned: Pinned) => Object.entries(pinned.ids).map(([t, id]) => `${t}=${id ?? "none"}`).join(", ")

export const cacheHeaders = (etag: string, pinned: Pinned) => ({
  etag,
  "cache-control": pinned.immutable ? "private, max-age=31536000, immutable" : "private, no-cache",
  "k2-snapshot-ids": snapshotIdsHeader(pinned),
  vary: "Accept, Accept-Encoding, Authorization, X-API-Key"
})
