/**
 * A warehouse copied or moved as a folder keeps a catalog that names its tables at the old place:
 * worked on where it is now, it wrote there, and compaction's orphan removal deleted the newer data
 * files of the warehouse still at the old place (a copy compacted with a short grace broke the
 * original's reads). Every program refuses it by name, and the original is left as it was.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnProgram } from "../support/programs.ts"
import { warehouseOptions } from "../support/warehouse.ts"

const run = (program: Parameters<typeof spawnProgram>[0], args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const p = spawnProgram(program, args)
    return { code: yield* Effect.promise(() => p.exited), out: p.output() }
  })

/** Every file under `dir` with its size and modification time. */
const files = (dir: string) =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => {
      const full = path.join(e.parentPath, e.name)
      const st = fs.statSync(full)
      return `${full} ${st.size} ${st.mtimeMs}`
    })
    .sort()

describe("a warehouse copied as a folder", () => {
  it.effect("is refused by ingest and compact, naming the old place; the original is untouched and still works", () =>
    Effect.gen(function*() {
      const original = warehouseOptions("sqlite").warehouse
      const first = yield* run("ingest", ["--warehouse", original, "--partitions", "1", "--events", "40"])
      assert.strictEqual(first.code, 0, first.out)
      const copy = `${original}-copy`
      fs.cpSync(original, copy, { recursive: true })
      const before = files(original)

      for (const [program, args] of [
        ["compact", ["--warehouse", copy, "--orphan-grace-hours", "0.001", "--allow-short-orphan-grace"]],
        ["ingest", ["--warehouse", copy, "--partitions", "1", "--events", "40"]],
        ["query", ["trades", "--warehouse", copy, "--from", "2000-01-01", "--to", "2100-01-01"]]
      ] as const) {
        const refused = yield* run(program, args)
        assert.strictEqual(refused.code, 1, `${program}: ${refused.out}`)
        assert.include(refused.out, "was copied or moved", program)
        assert.include(refused.out, `${fs.realpathSync(original)}/market_data/`, program)
      }
      assert.deepStrictEqual(files(original), before)

      // The warehouse where its catalog says its tables are is not refused.
      const again = yield* run("compact", ["--warehouse", original])
      assert.strictEqual(again.code, 0, again.out)
    }), 180_000)
})
