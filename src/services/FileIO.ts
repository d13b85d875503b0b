import { Context, type Effect } from "effect"
import type { TableFileError } from "../domain/iceberg/errors.ts"

export interface FileEntry {
  readonly location: string
  readonly size: number
  readonly modifiedMs: number
}

/**
 * The storage under a warehouse, addressed by location URIs (`file:///...`, or a
 * bare absolute path as some engines write). Every failure names the location.
 */
export class FileIO extends Context.Service<FileIO, {
  read(location: string): Effect.Effect<Uint8Array, TableFileError>
  /**
   * Writes a new file; never replaces one (metadata files are immutable once written). Returns once
   * the file is on the disk (ADR-43); one that fails part way is not left under its name.
   */
  write(location: string, bytes: Uint8Array): Effect.Effect<void, TableFileError>
  exists(location: string): Effect.Effect<boolean, TableFileError>
  remove(location: string): Effect.Effect<void, TableFileError>
  /** Every file below a location, recursively. */
  list(location: string): Effect.Effect<ReadonlyArray<FileEntry>, TableFileError>
}>()("k2/services/FileIO") {}
