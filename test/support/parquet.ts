/** Reading an answer's Parquet bytes back, with DuckDB, as a client would. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DuckDBInstance } from "@duckdb/node-api"
import { Effect } from "effect"

/** A Parquet body read back by DuckDB: its column names and rows. */
export const readParquet = (bytes: Uint8Array) =>
  Effect.promise(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-api-test-"))
    const file = path.join(dir, "answer.parquet")
    fs.writeFileSync(file, bytes)
    const instance = await DuckDBInstance.create(":memory:")
    const connection = await instance.connect()
    try {
      const reader = await connection.runAndReadAll(`SELECT * FROM read_parquet('${file}')`)
      return { columns: reader.columnNames(), rows: reader.getRowObjects() as Array<Record<string, unknown>> }
    } finally {
      connection.closeSync()
      instance.closeSync()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
