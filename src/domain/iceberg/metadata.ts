/**
 * Pure transitions of Iceberg v2 table metadata, in the vocabulary of the REST
 * catalog protocol (requirements + updates) so that every catalog applies a
 * commit the same way: the SQL catalog applies it here and swaps the pointer,
 * the REST catalog sends it to the server.
 *
 * One import for what the modules beside it hold: a new table's metadata (`newTable.ts`),
 * requirements and updates (`tableRequirements.ts`, `tableUpdates.ts`), snapshot lookups and
 * ancestry (`snapshotLookup.ts`), time travel (`timeTravel.ts`), new snapshots' ids and summaries
 * (`snapshotIds.ts`, `snapshotSummary.ts`), the schema, spec and sort order written with
 * (`writeSchema.ts`, `specAndOrder.ts`), where files go (`tableLocations.ts`) and the cache of
 * decoded metadata (`metadataCache.ts`).
 */
export { metadataCache } from "./metadataCache.ts"
export { type NewTable, newTableMetadata } from "./newTable.ts"
export { freshSnapshotId, newSnapshotId } from "./snapshotIds.ts"
export { ancestors, ancestry, currentSnapshot, snapshotById } from "./snapshotLookup.ts"
export { snapshotSummary } from "./snapshotSummary.ts"
export { defaultSortOrder, defaultSpec, specById } from "./specAndOrder.ts"
export { dataDirectory, defaultTableLocation, metadataDirectory, nextMetadataFileName } from "./tableLocations.ts"
export { type TableRequirement, unmetRequirement } from "./tableRequirements.ts"
export { applyUpdates, type TableUpdate, UpdateRefused } from "./tableUpdates.ts"
export { committedBy, noSnapshotAt, snapshotAsOf } from "./timeTravel.ts"
export { currentSchema, unwritableSchemaChange } from "./writeSchema.ts"
