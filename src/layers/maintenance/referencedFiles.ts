/** Every file a table's retained state references, for orphan removal to keep. */
import { Effect } from "effect"
import { ManifestEntryStatus } from "../../domain/iceberg/spec.ts"
import type { LoadedTable } from "../../services/Catalog.ts"
import type { SnapshotFiles } from "../iceberg/snapshotFiles.ts"
import { entriesOf, type ManifestFile, manifestsOf } from "./manifestReads.ts"
import { metadataFiles, referencedSpellings, sideFiles } from "./plan.ts"

/** Every file the table's retained state references, normalized (each spelling a reader may take it in: `referencedSpellings`). */
export const referencedFiles = Effect.fnUntraced(function*(snapshots: SnapshotFiles, table: LoadedTable) {
  const m = table.metadata
  const out = new Set<string>()
  const add = (location: string) => referencedSpellings(location).forEach((l) => out.add(l))
  for (const f of [...metadataFiles(m, table.metadataLocation), ...sideFiles(m.properties)]) add(f)
  const manifestPaths = new Map<string, ManifestFile>()
  for (const s of m.snapshots) {
    add(s["manifest-list"])
    for (const f of sideFiles(s.summary)) add(f)
    for (const mf of yield* manifestsOf(snapshots, table.identifier)(s)) manifestPaths.set(mf.manifestPath, mf)
  }
  const entries = yield* Effect.forEach([...manifestPaths.values()], entriesOf(snapshots, table.identifier, m), { concurrency: 8 })
  for (const [p] of manifestPaths) add(p)
  for (const list of entries) {
    for (const e of list) if (e.status !== ManifestEntryStatus.DELETED) add(e.dataFile.filePath)
  }
  return out
})
