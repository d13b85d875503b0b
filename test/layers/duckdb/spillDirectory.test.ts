/**
 * Each DuckDB instance spills into a directory of its own under TMPDIR, not DuckDB's `.tmp` in the
 * working directory: two K2 processes started from one directory (as `npm run` starts them all)
 * spilling at once crashed with a segmentation fault, and an unwritable working directory failed
 * every spilling query. A process that ended without closing DuckDB leaves its directory to the next.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { DuckDb, query } from "../../../src/layers/duckdb/DuckDb.ts"
import { sweepSpillDirectories } from "../../../src/layers/duckdb/spillDirectory.ts"

/** The spill directory of a new instance, what it spilled there, and whether it is still there once closed. */
const spillOfOneInstance = (sql: string) =>
  Effect.gen(function*() {
    const seen = yield* Effect.scoped(Effect.gen(function*() {
      const duckDb = yield* DuckDb
      return yield* duckDb.withConnection((c) =>
        Effect.gen(function*() {
          const [row] = yield* query(c, "spill directory", "SELECT current_setting('temp_directory') AS dir")
          // The temporary files exist while the statement runs: the sort's result stays open for a look.
          yield* query(c, "spill", `CREATE TEMP TABLE sorted AS ${sql}`)
          const files = yield* query(c, "spilled", "SELECT path FROM duckdb_temporary_files()")
          return { dir: String(row!["dir"]), files: files.map((f) => String(f["path"])) }
        })
      )
    }).pipe(Effect.provide(DuckDb.layerWith({ connections: 1, threads: 1, memoryLimit: "32MB" }))))
    return { ...seen, left: fs.existsSync(seen.dir) }
  })

describe("DuckDB's spill directory", () => {
  it.effect("is an instance's own under the temporary directory, and goes when it closes", () =>
    Effect.gen(function*() {
      const a = yield* spillOfOneInstance("SELECT 1 AS x")
      const b = yield* spillOfOneInstance("SELECT 1 AS x")
      for (const s of [a, b]) {
        assert.isTrue(path.isAbsolute(s.dir), s.dir)
        assert.strictEqual(path.dirname(s.dir), os.tmpdir())
        assert.match(path.basename(s.dir), new RegExp(`^k2-duckdb-${process.pid}-[0-9a-f]{8}$`))
        assert.isFalse(s.left)
      }
      assert.notStrictEqual(a.dir, b.dir)
    }))

  it.effect("takes what a sort past the memory limit spills", () =>
    Effect.gen(function*() {
      const s = yield* spillOfOneInstance("SELECT x, md5(x::VARCHAR) AS h FROM range(1500000) t(x) ORDER BY h")
      assert.isAbove(s.files.length, 0, "the sort spilled")
      for (const f of s.files) assert.strictEqual(path.dirname(f), s.dir)
      assert.isFalse(s.left)
      assert.isFalse(fs.existsSync(path.resolve(".tmp")), "nothing in the working directory")
    }), 60_000)

  it("deletes the directories of ended processes left unchanged, and only those", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-spill-root-"))
    try {
      const ended = spawnSync(process.execPath, ["-e", ""]).pid!
      const make = (name: string) => {
        fs.mkdirSync(path.join(root, name))
        fs.writeFileSync(path.join(root, name, "duckdb_temp_storage_DEFAULT-0.tmp"), "x")
        return name
      }
      const dead = make(`k2-duckdb-${ended}-0123abcd`)
      const mine = make(`k2-duckdb-${process.pid}-0123abcd`)
      const other = make(`k2-duckdb-${ended}-notours`)
      // Unchanged since before the cutoff: nothing is younger than a cutoff in the future.
      const future = fs.statSync(path.join(root, dead)).mtimeMs + 60_000
      assert.deepStrictEqual(sweepSpillDirectories(0, root), [], "changed since the cutoff: kept")
      assert.deepStrictEqual(sweepSpillDirectories(future, root), [dead])
      assert.deepStrictEqual(fs.readdirSync(root).sort(), [mine, other].sort())
      assert.deepStrictEqual(sweepSpillDirectories(future, path.join(root, "absent")), [])
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  })
})
