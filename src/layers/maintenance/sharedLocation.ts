/** The refusal of orphan removal in a location another table's metadata shares (ADR-42). */
import { Effect } from "effect"
import { type LoadedTable, showIdentifier } from "../../services/Catalog.ts"
import type { FileIO } from "../../services/FileIO.ts"
import { SharedTableLocation } from "../../services/Maintenance.ts"
import { otherTablesMetadata } from "../iceberg/otherTables.ts"
import { normalizeLocation } from "./plan.ts"

/**
 * Fails (SharedTableLocation) when a metadata file among those listed, off this table's metadata
 * log, names another table-uuid: that table shares the location, and every file of it would be
 * taken for an orphan (ADR-42). Same-uuid files off the log (a commit that lost the
 * compare-and-swap, one past write.metadata.previous-versions-max) are this table's orphans, and
 * an unreadable one (truncated by a crash) no table loads; a live table sharing the location has
 * a current metadata file that reads. Checked in dry runs too: their list would be the other table's files.
 */
export const refuseSharedLocation = Effect.fnUntraced(function*(
  files: FileIO["Service"],
  table: LoadedTable,
  listed: ReadonlyArray<{ readonly location: string }>
) {
  const m = table.metadata
  const chain = new Set([table.metadataLocation, ...m["metadata-log"].map((e) => e["metadata-file"])].map(normalizeLocation))
  const foreign = yield* otherTablesMetadata(files, listed.map((e) => e.location).filter((l) => !chain.has(normalizeLocation(l))), m["table-uuid"])
  if (foreign.length > 0) {
    return yield* new SharedTableLocation({
      table: showIdentifier(table.identifier),
      location: m.location,
      tableUuid: m["table-uuid"],
      foreign
    })
  }
})
