/**
 * Reading a snapshot's manifest list and manifests through FileIO. Both kinds of
 * file are immutable once written, so decoded contents are cached by location.
 */
import { Effect } from "effect"
import type { TableFileError } from "../../domain/iceberg/errors.ts"
import type { ManifestEntry, ManifestFile, Snapshot } from "../../domain/iceberg/spec.ts"
import { FileIO } from "../../services/FileIO.ts"
import { type Lru, lru } from "../../domain/lru.ts"
import { decodeManifest, decodeManifestList, inheritSequenceNumbers } from "./manifests.ts"

export interface SnapshotFiles {
  manifestList(snapshot: Snapshot): Effect.Effect<ReadonlyArray<ManifestFile>, TableFileError>
  /** Entries with inherited snapshot ids and sequence numbers filled in. */
  manifestEntries(manifest: ManifestFile): Effect.Effect<ReadonlyArray<ManifestEntry>, TableFileError>
}

/**
 * For maintenance, within a quarter of the 256 MB heap `compact` and `ingest --maintain-every` run
 * with (~11 KB an entry; test/layers/iceberg/maintenanceCache.test.ts). 25,000 (a whole day of
 * one-second commits) filled the heap when each day's compaction rewrote manifests spanning a year
 * of days: a day merged larger than this is decoded again by its commit, not kept.
 */
export const MAINTENANCE_CACHE_ENTRIES = 5_000

/**
 * For the scanner (serve, query, replay): about one full day's merged manifest too. A decoded
 * entry holds ~11 KB of heap (its column bounds), and under live ingestion each read at the latest
 * snapshot decodes a new near-copy of the day's manifest: 100,000 entries let serve's heap grow
 * ~6 MB a minute towards ~1.1 GB (a one-hour soak); this many bound it near 275 MB.
 */
export const SCANNER_CACHE_ENTRIES = 25_000

/**
 * For the sink, which reads each manifest list and manifest once per commit attempt (the parent's
 * list; at a merge, the manifests merged) and never again once its commit supersedes them: the
 * cache only serves a retry. A larger one filled with superseded near-copies (1,200 commits:
 * 126 MB of live heap, 47 MB at this size).
 */
export const SINK_CACHE_ENTRIES = 2_000

/**
 * `cacheEntries` bounds the manifest entries (and manifest-list rows) held decoded, not the
 * files: a day's merged manifest is rewritten by every commit with one more entry, so a cache
 * counted in files would keep thousands of ever larger near-copies.
 */
export const makeSnapshotFiles = Effect.fnUntraced(function*(options: { readonly cacheEntries: number }) {
  const files = yield* FileIO
  const lists = lru<ReadonlyArray<ManifestFile>>(options.cacheEntries, (list) => list.length)
  const manifests = lru<ReadonlyArray<ManifestEntry>>(options.cacheEntries, (entries) => entries.length)

  const cached = <V>(
    cache: Lru<V>,
    location: string,
    decode: (bytes: Uint8Array) => Effect.Effect<V, TableFileError>
  ): Effect.Effect<V, TableFileError> => {
    const hit = cache.get(location)
    if (hit !== undefined) return Effect.succeed(hit)
    return files.read(location).pipe(
      Effect.flatMap(decode),
      Effect.tap((value) => Effect.sync(() => cache.set(location, value)))
    )
  }

  return {
    manifestList: (snapshot) =>
      cached(lists, snapshot["manifest-list"], (bytes) => decodeManifestList(bytes, snapshot["manifest-list"])),
    manifestEntries: (manifest) =>
      cached(
        manifests,
        manifest.manifestPath,
        (bytes) => decodeManifest(bytes, manifest.manifestPath).pipe(
          Effect.map((entries) => inheritSequenceNumbers(entries, manifest))
        )
      )
  } satisfies SnapshotFiles
})
