/** The ingestion marker as tests read it: plainly, outside an effect. */
import { Result } from "effect"
import type { TableMetadata } from "../../src/domain/iceberg/spec.ts"
import { type Marker, readMarker } from "../../src/domain/ingest/marker.ts"

/** readMarker, throwing MarkerUnreadable: a test that meets an unreadable marker fails with it. */
export const markerIn = (metadata: TableMetadata, group: string, table?: string): Marker | undefined => {
  const read = readMarker(metadata, group, table)
  if (Result.isFailure(read)) throw read.failure
  return read.success
}
