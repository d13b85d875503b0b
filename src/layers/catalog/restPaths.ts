/** Where K2's namespaces and tables are on the server: below the parent namespace, under the server's prefix. */
import type { TableIdentifier } from "../../services/Catalog.ts"

export const UNIT_SEPARATOR = "\u001f"

/** The levels of `RestCatalogOptions.parentNamespace` (none when unset). */
export const parentLevels = (parentNamespace: string | undefined): ReadonlyArray<string> =>
  parentNamespace === undefined || parentNamespace === ""
    ? []
    : parentNamespace.split(".")

/** The server's levels of a K2 namespace, and the paths (below `root`) of namespaces and tables. */
export const restPaths = (parent: ReadonlyArray<string>, root: string) => {
  const levels = (namespace: string) => [...parent, ...namespace.split(".")]
  const nsPath = (namespace: string) => encodeURIComponent(levels(namespace).join(UNIT_SEPARATOR))
  const tablePath = (id: TableIdentifier) => `${root}/namespaces/${nsPath(id.namespace)}/tables/${encodeURIComponent(id.name)}`
  return { levels, nsPath, tablePath }
}
