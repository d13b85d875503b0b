/** Listing a directory while another process deletes files in it: the files still there are listed. */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { fileLocation, walk } from "../../../src/layers/iceberg/fileio.ts"

describe("FileIO listing", () => {
  it("a file deleted between the listing and its stat is left out, not the end of the listing", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-walk-"))
    for (const name of ["a.parquet", "b.parquet", "c.parquet"]) fs.writeFileSync(path.join(dir, name), name)
    const gone = path.join(dir, "b.parquet")
    // b.parquet is deleted once listed, before its stat.
    const stat = (file: string) => {
      if (file === gone) fs.rmSync(gone)
      return fs.promises.stat(file)
    }
    const listed = (await walk(dir, stat)).map((f) => f.location).sort()
    assert.deepStrictEqual(listed, [fileLocation(path.join(dir, "a.parquet")), fileLocation(path.join(dir, "c.parquet"))])
  })
})
