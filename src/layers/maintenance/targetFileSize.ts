/** The size compaction writes its files near: the table's `write.target-file-size-bytes`, else K2's default. */
import { Effect } from "effect"
import type { TableMetadata } from "../../domain/iceberg/spec.ts"
import type { TableIdentifier } from "../../services/Catalog.ts"
import type { MaintenanceRefused } from "../../services/Maintenance.ts"
import { positiveProperty } from "./propertyNumbers.ts"

const DEFAULT_TARGET_FILE_SIZE = 128 * 1024 * 1024

/** The table property Iceberg's writers size their data files by (Java's default: 512 MiB; ADR-99). */
const TARGET_FILE_SIZE_PROPERTY = "write.target-file-size-bytes"

/**
 * The table's `write.target-file-size-bytes`, else K2's default (128 MiB), read as Java's writers read
 * it (`positiveProperty`: no unit, no fraction): compacting by a guess at what was meant would write
 * a day as one huge file or as thousands of tiny ones.
 */
export const targetFileSize = (identifier: TableIdentifier, m: TableMetadata): Effect.Effect<number, MaintenanceRefused> =>
  positiveProperty(identifier, m, TARGET_FILE_SIZE_PROPERTY, "long", DEFAULT_TARGET_FILE_SIZE, {
    unit: " of bytes",
    then: "; nothing compacted (set it to a size such as 134217728, remove it for the default, or give --target-file-size-mb)"
  })
