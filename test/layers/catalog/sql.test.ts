import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Layer } from "effect"
import * as Catalogs from "../../../src/layers/catalog/sql.ts"
import * as FileIOs from "../../../src/layers/iceberg/fileio.ts"
import { catalogContract } from "./catalogContract.ts"

catalogContract("in-memory SQLite, in-memory files", () =>
  Catalogs.layerMemory({ name: "k2", warehouse: "file:///warehouse" }).pipe(Layer.provide(FileIOs.layerMemory)))

catalogContract("SQLite file, local files", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-catalog-"))
  return Catalogs.layerSqlite({ name: "k2", path: path.join(dir, "catalog.db"), warehouse: FileIOs.fileLocation(dir) })
    .pipe(Layer.provide(FileIOs.layer))
})
