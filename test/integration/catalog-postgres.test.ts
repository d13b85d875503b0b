import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Layer } from "effect"
import * as Catalogs from "../../src/layers/catalog/sql.ts"
import * as FileIOs from "../../src/layers/iceberg/fileio.ts"
import { catalogContract } from "../layers/catalog/catalogContract.ts"
import { postgresUrl, uniqueCatalogName } from "../support/postgres.ts"

catalogContract("PostgreSQL", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-pg-catalog-"))
  return Catalogs.layerPostgres({ name: uniqueCatalogName(), url: postgresUrl, warehouse: FileIOs.fileLocation(dir) })
    .pipe(Layer.provide(FileIOs.layer))
})
