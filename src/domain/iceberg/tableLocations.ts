/**
 * Where a table's files go (ADR-23): its data and metadata directories, a new table's default
 * location, the name of its next metadata file.
 */
import type { TableMetadata } from "./spec.ts"

const withoutTrailingSlash = (path: string) => path.replace(/\/+$/, "")

/** A path-valued table property, trailing slashes dropped; undefined when unset or empty. */
const pathProperty = (m: TableMetadata, key: string): string | undefined => {
  const value = m.properties[key]
  return value === undefined || withoutTrailingSlash(value) === "" ? undefined : withoutTrailingSlash(value)
}

/**
 * The directory of a table's metadata files (metadata.json, manifest lists, manifests): the
 * `write.metadata.path` property when set, else `<location>/metadata`, as Java's TableOperations
 * places them.
 */
export const metadataDirectory = (m: TableMetadata): string =>
  pathProperty(m, "write.metadata.path") ?? `${withoutTrailingSlash(m.location)}/metadata`

/**
 * Where a table's data files go, as Java's DefaultLocationProvider places them: `write.data.path`,
 * else the legacy `write.folder-storage.path`, else `<location>/data`. `write.object-storage.enabled`
 * (hashed prefixes for object stores) and `write.location-provider.impl` are not followed: every
 * file is named by its full path in the manifests, so files at the default place make a valid table.
 */
export const dataDirectory = (m: TableMetadata): string =>
  pathProperty(m, "write.data.path") ?? pathProperty(m, "write.folder-storage.path") ?? `${withoutTrailingSlash(m.location)}/data`

/** Java's default table location (JdbcCatalog, RESTCatalogServer over it): `<warehouse>/<level>/.../<name>`, no `.db`. */
export const defaultTableLocation = (warehouse: string, namespaceLevels: ReadonlyArray<string>, name: string): string =>
  [withoutTrailingSlash(warehouse), ...namespaceLevels, name].join("/")

/** Metadata file name `<version>-<uuid>.metadata.json`, version one above the base's (Java's convention). */
export const nextMetadataFileName = (baseLocation: string | null, uuid: string): string => {
  const match = baseLocation === null ? null : /(\d+)-[^/]*\.metadata\.json$/.exec(baseLocation)
  const version = match === null ? 0 : Number(match[1]) + 1
  return `${String(version).padStart(5, "0")}-${uuid}.metadata.json`
}
