/** FileIO on the local file system, and in memory for unit tests. */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Layer } from "effect"
import { MissingFile, PathTooLong, StorageFailure, TableFileError } from "../../domain/iceberg/errors.ts"
import { unheldPartitionValues } from "../../domain/iceberg/partitioning.ts"
import type { ManifestFile, PartitionSpec, Schema, Snapshot } from "../../domain/iceberg/spec.ts"
import { type FileEntry, FileIO } from "../../services/FileIO.ts"
import { DurabilityRef, writeDurably } from "./durable.ts"

/**
 * A location URI or bare path to a local path. In a `file:` URI a valid `%XX` escape is decoded
 * (tables K2 wrote before it wrote paths unencoded hold fully encoded URIs), but `#`, `?` and a `%`
 * starting no escape are characters of the path, as in the unencoded `file:` locations Java
 * engines write (Hadoop paths): read as a fragment or query they cut the path short at a parent
 * directory, whose files orphan removal would then take for the table's. Nor does `%2F` decode: no
 * path holds an encoded slash (Node refuses one, a defect, not a typed error), so it is a name's
 * own characters, as a catalog puts a namespace or table name into the location unencoded.
 */
export const localPath = (location: string): string =>
  location.startsWith("file:")
    ? fileURLToPath(location.replace(/[#?%]/g, (c, at: number) => c === "%" && startsDecodedEscape(location, at) ? c : encodeURIComponent(c)))
    : location

/** The one rule both directions keep: whether the `%` at `at` starts an escape `localPath` decodes (two hex digits, not `2F`). */
const startsDecodedEscape = (text: string, at: number): boolean =>
  /^%[0-9A-Fa-f]{2}$/.test(text.slice(at, at + 3)) && text.slice(at + 1, at + 3).toUpperCase() !== "2F"

/**
 * The `file:` location of a local path, its path written as is, as Java engines write Hadoop paths:
 * Java's HadoopFileIO and PyIceberg take a location's path literally and decode no escape, so an
 * encoded `my%20wh` names another directory to them and they could open none of the table's files.
 * Escaped only where `localPath` would read the path otherwise: a `%` that would start an escape
 * (not `%2F`, which it reads as written: escaped, a data file of a table in namespace `a%2Fb` was at
 * `a%252Fb`, another directory than its table's to those engines), and the backslash and tab,
 * newline and carriage return a URL parser turns or drops.
 */
export const fileLocation = (localPathOrDir: string): string =>
  `file://${
    path.resolve(localPathOrDir).replace(
      /[%\\\t\n\r]/g,
      (c, at: number, text: string) => c === "%" && !startsDecodedEscape(text, at) ? c : encodeURIComponent(c)
    )
  }`

/**
 * Whether a location is on the local file system (a `file:` URI or a path), not on storage K2 does
 * not reach (`s3:`, `gs:`, `hdfs:` ...), which a local path would take for a directory named `s3:`.
 */
export const isLocalLocation = (location: string): boolean =>
  location.startsWith("file:") || !/^[A-Za-z][A-Za-z0-9+.-]+:/.test(location)

/** What K2 says of a table on storage it does not reach (an UnsupportedTableFeature's feature). */
export const foreignStorage = (location: string) => `storage at ${location} (K2 reads and writes the local file system only)`

/** What K2 says of a table with a file that has key_metadata (an UnsupportedTableFeature's feature). */
export const encryption = (location: string) =>
  `encryption (${location} has key_metadata: Iceberg table encryption, and K2 decrypts nothing)`

/** Why K2 does not read a snapshot's manifest list (an UnsupportedTableFeature's feature), null when it does: on storage it does not reach. */
export const manifestListRefusal = (snapshot: Pick<Snapshot, "manifest-list">): string | null =>
  isLocalLocation(snapshot["manifest-list"]) ? null : foreignStorage(snapshot["manifest-list"])

/**
 * Why K2 does not read a manifest (an UnsupportedTableFeature's feature), null when it does: on
 * storage it does not reach, encrypted, or of a partition spec (`spec`, as the table has it; not
 * checked when the table lacks it, which callers refuse their own way) whose values under `schema`
 * it does not hold. Every reader of manifests (the planner, maintenance, a commit rewriting them)
 * asks this first, so a manifest is refused by name, the same everywhere, rather than failing as
 * a missing or corrupt file.
 */
export const manifestRefusal = (
  manifest: Pick<ManifestFile, "manifestPath" | "keyMetadata" | "partitions">,
  spec: PartitionSpec | undefined,
  schema: Schema
): string | null =>
  !isLocalLocation(manifest.manifestPath)
    ? foreignStorage(manifest.manifestPath)
    : manifest.keyMetadata !== undefined
    ? encryption(manifest.manifestPath)
    : spec === undefined
    ? null
    : unheldPartitionValues(spec, schema, "read", manifest.partitions)

/** A file system failure on `location` other than a missing file: a path too long (no retry helps) or the storage failing. */
export const storageFailure = (location: string, cause: unknown) => {
  const err = cause as NodeJS.ErrnoException
  return new TableFileError({
    reason: err.code === "ENAMETOOLONG"
      ? new PathTooLong({ path: location })
      : new StorageFailure({ path: location, detail: err.message ?? String(cause) })
  })
}

const failure = (location: string, cause: unknown) =>
  (cause as NodeJS.ErrnoException).code === "ENOENT"
    ? new TableFileError({ reason: new MissingFile({ path: location }) })
    : storageFailure(location, cause)

const io = <A>(location: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => failure(location, cause) })

/**
 * Every file under `dir`. A file deleted between the listing and its stat (a commit cleaning up,
 * a concurrent orphan removal) is left out: failing on it made the whole listing read as empty.
 */
export const walk = async (dir: string, stat: (file: string) => Promise<{ size: number; mtimeMs: number }> = fs.stat): Promise<Array<FileEntry>> => {
  const out: Array<FileEntry> = []
  for (const entry of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const full = path.join(entry.parentPath, entry.name)
    const st = await stat(full).catch((e: NodeJS.ErrnoException) => e.code === "ENOENT" ? undefined : Promise.reject(e))
    if (st !== undefined) out.push({ location: fileLocation(full), size: st.size, modifiedMs: st.mtimeMs })
  }
  return out
}

export const layer = Layer.succeed(FileIO)(FileIO.of({
  read: Effect.fn("FileIO.read")(function*(location) {
    return yield* io(location, () => fs.readFile(localPath(location)))
  }),
  // Durable before it returns: the caller goes on to reference the file (ADR-43).
  write: Effect.fn("FileIO.write")(function*(location, bytes) {
    const durability = yield* DurabilityRef
    yield* io(location, () => writeDurably(durability, localPath(location), bytes))
  }),
  exists: Effect.fn("FileIO.exists")(function*(location) {
    return yield* io(location, () => fs.access(localPath(location)).then(() => true, (e) => e.code === "ENOENT" ? false : Promise.reject(e)))
  }),
  remove: Effect.fn("FileIO.remove")(function*(location) {
    yield* io(location, () => fs.rm(localPath(location), { force: true }))
  }),
  list: Effect.fn("FileIO.list")(function*(location) {
    return yield* io(location, () => walk(localPath(location)).catch((e) => e.code === "ENOENT" ? [] : Promise.reject(e)))
  })
}))

export const layerMemory = Layer.sync(FileIO)(() => {
  const files = new Map<string, { bytes: Uint8Array; modifiedMs: number }>()
  const missing = (location: string) => new TableFileError({ reason: new MissingFile({ path: location }) })
  return FileIO.of({
    read: (location) => {
      const f = files.get(location)
      return f === undefined ? Effect.fail(missing(location)) : Effect.succeed(f.bytes)
    },
    write: (location, bytes) =>
      files.has(location)
        ? Effect.fail(new TableFileError({ reason: new StorageFailure({ path: location, detail: "file exists" }) }))
        : Effect.sync(() => void files.set(location, { bytes, modifiedMs: Date.now() })),
    exists: (location) => Effect.sync(() => files.has(location)),
    remove: (location) => Effect.sync(() => void files.delete(location)),
    list: (location) =>
      Effect.sync(() =>
        [...files].filter(([l]) => l.startsWith(location.endsWith("/") ? location : `${location}/`))
          .map(([l, f]) => ({ location: l, size: f.bytes.length, modifiedMs: f.modifiedMs }))
      )
  })
})
