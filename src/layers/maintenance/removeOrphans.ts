/**
 * Orphan removal: files under the table location that no retained snapshot references and older
 * than the grace period, removed (listed only, in a dry run); other tables' directories inside the
 * location are not scanned, and a location another table's metadata shares is refused.
 */
import { Effect } from "effect"
import { isMissingFile } from "../../domain/iceberg/errors.ts"
import type { Catalog, TableIdentifier } from "../../services/Catalog.ts"
import type { FileIO } from "../../services/FileIO.ts"
import type { OrphanOptions, OrphanResult } from "../../services/Maintenance.ts"
import type { SnapshotFiles } from "../iceberg/snapshotFiles.ts"
import { crcOf, normalizeLocation, otherTablesDirectories } from "./plan.ts"
import { referencedFiles } from "./referencedFiles.ts"
import { refuseSharedLocation } from "./sharedLocation.ts"

const DEFAULT_ORPHAN_GRACE_MS = 24 * 3_600_000

export const makeRemoveOrphans = (catalog: Catalog["Service"], files: FileIO["Service"], snapshots: SnapshotFiles) =>
  Effect.fn("Maintenance.removeOrphans")(function*(
    identifier: TableIdentifier,
    orphanOptions: OrphanOptions = {}
  ) {
    // Compared with the files' modification times, which the file system stamps from the wall clock.
    const nowMs = orphanOptions.nowMs ?? Date.now()
    const grace = orphanOptions.olderThanMs ?? DEFAULT_ORPHAN_GRACE_MS
    // Listed before the table is loaded: a file committed in between is then referenced.
    const all = yield* files.list(yield* catalog.loadTable(identifier).pipe(Effect.map((t) => t.metadata.location)))
    // Another run (a second `compact`) may expire snapshots loaded here and remove their files before
    // they are read: then the table is loaded again, as it is now (the listing still comes before it).
    const { referenced, table } = yield* Effect.gen(function*() {
      const table = yield* catalog.loadTable(identifier)
      return { table, referenced: yield* referencedFiles(snapshots, table) }
    }).pipe(Effect.retry({ times: 4, while: isMissingFile }))
    const others = otherTablesDirectories(table.metadata, table.metadataLocation, all.map((e) => e.location))
    const listed = all.filter((e) => !others.some((dir) => normalizeLocation(e.location).startsWith(`${dir}/`)))
    yield* refuseSharedLocation(files, table, listed)
    const isReferenced = (location: string) => {
      const local = normalizeLocation(location)
      if (referenced.has(local)) return true
      const crcFor = crcOf(local)
      return crcFor !== undefined && referenced.has(crcFor)
    }
    let tooYoung = 0
    let bytesRemoved = 0
    const removed: Array<string> = []
    for (const entry of listed) {
      if (isReferenced(entry.location)) continue
      if (entry.modifiedMs > nowMs - grace) {
        tooYoung++
        continue
      }
      if (orphanOptions.dryRun !== true) yield* files.remove(entry.location)
      removed.push(entry.location)
      bytesRemoved += entry.size
    }
    const result: OrphanResult = {
      table: identifier,
      filesScanned: listed.length,
      referenced: listed.length - removed.length - tooYoung,
      tooYoung,
      removed,
      bytesRemoved
    }
    return result
  })
