/** What the Iceberg REST catalog client is told: where the catalog is, and K2's credentials for it. */

export interface RestCatalogOptions {
  /** Base URI of the catalog, e.g. http://127.0.0.1:8181 (the `/v1/...` paths go below it). */
  readonly uri: string
  /** Name reported by `Catalog.name`. */
  readonly name?: string
  /** Warehouse to ask `GET /v1/config` for (some servers select a catalog by it). */
  readonly warehouse?: string
  /**
   * When set, new tables are created at `<tableLocationRoot>/<level>/.../<name>`, a directory for each
   * level of the server's namespace (parent levels included), as Java's catalogs place them (else the server decides).
   */
  readonly tableLocationRoot?: string
  /**
   * K2 namespaces live below this namespace on the server (levels separated by `.`): several
   * K2 deployments or test runs share one server without seeing each other's tables. Its levels are
   * made when it is missing; one that exists is only looked at (creating namespaces may be refused).
   */
  readonly parentNamespace?: string
  /** A fixed bearer token. */
  readonly token?: string
  /** OAuth2 client credentials `<client_id>:<client_secret>` (token from `<uri>/v1/oauth/tokens`). */
  readonly credential?: string
  readonly scope?: string
}
