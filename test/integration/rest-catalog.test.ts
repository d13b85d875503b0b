/** The catalog contract against Apache Iceberg's REST catalog server (JdbcCatalog on PostgreSQL). */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { beforeAll } from "@effect/vitest"
import * as Rest from "../../src/layers/catalog/rest.ts"
import * as FileIOs from "../../src/layers/iceberg/fileio.ts"
import { ensureRestCatalog, restCatalogUri, uniqueParent } from "../interop/restCatalog.ts"
import { catalogContract } from "../layers/catalog/catalogContract.ts"

beforeAll(() => ensureRestCatalog())

catalogContract("REST (Iceberg RESTCatalogServer, JdbcCatalog on PostgreSQL)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-rest-catalog-"))
  return Rest.layer({
    uri: restCatalogUri,
    parentNamespace: uniqueParent(),
    tableLocationRoot: FileIOs.fileLocation(dir)
  })
  // Iceberg's JdbcCatalog behind the server has the check-then-insert race K2's SQL catalog had:
  // a concurrent creation of one namespace can answer 500, which the layer reports as unavailable.
  // A namespace longer than its JDBC columns is answered 500 too: the server's failure, not a refusal.
  // The server writes a new table's first metadata file, wherever it is told (ADR-47 is the SQL catalog's).
}, { namespaceCreationIsAtomic: false, refusesOverlongNames: false, refusesLocationInUse: false })
