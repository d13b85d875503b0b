/**
 * The warehouse and SQLite catalog paths a user gives: one that can never be a directory (a file, a
 * file on the way, a link to nothing, a loop of links, too long), a `~` the shell left as it was, a
 * catalog SQLite cannot open, is refused as a bad option (exit 2) before anything is made; one
 * whose directory the file system will not make (/proc) fails naming it (exit 1), where Node's
 * mkdir -p spun for ever, deaf to SIGTERM. And a PEM file that never ends (/dev/zero) is refused
 * past 1 MiB, where serve read it for ever.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { lakehouseFlags } from "../../src/programs/cli/lakehouse.ts"
import { parseFlag, refusal } from "../support/flags.ts"
import { spawnProgram } from "../support/programs.ts"
import { tempDir } from "../support/tempDir.ts"

/** A scratch directory holding a file, a link to nothing and a loop of links. */
const oddities = Effect.gen(function*() {
  const dir = yield* tempDir("k2-paths-")
  fs.writeFileSync(path.join(dir, "file"), "")
  fs.symlinkSync(path.join(dir, "nowhere"), path.join(dir, "dangling"))
  fs.symlinkSync(path.join(dir, "loop2"), path.join(dir, "loop1"))
  fs.symlinkSync(path.join(dir, "loop1"), path.join(dir, "loop2"))
  return dir
})

/** `program args`, its exit code and output; killed after 60 s (a spin never ends), its code then null. */
const run = (program: "ingest" | "serve", args: ReadonlyArray<string>, env: Readonly<Record<string, string>> = {}) =>
  Effect.gen(function*() {
    const p = spawnProgram(program, args, env)
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 60_000)
    const code = yield* Effect.promise(() => p.exited)
    clearTimeout(timer)
    return { code, output: p.output() }
  })

describe("--warehouse and --catalog paths", () => {
  it.effect("a warehouse that can never be a directory is refused, naming what is in the way, from the flag or K2_WAREHOUSE", () =>
    Effect.gen(function*() {
      const dir = yield* oddities
      const refused = (warehouse: string, says: string) =>
        Effect.gen(function*() {
          assert.include(refusal(yield* parseFlag(lakehouseFlags.warehouse, {}, { warehouse: [warehouse] })), says)
          assert.include(refusal(yield* parseFlag(lakehouseFlags.warehouse, { K2_WAREHOUSE: warehouse })), says)
        })
      yield* refused(path.join(dir, "file"), `${path.join(dir, "file")} is not a directory`)
      yield* refused(path.join(dir, "file", "wh"), `${path.join(dir, "file")} is a file, not a directory`)
      yield* refused(path.join(dir, "dangling"), `${path.join(dir, "dangling")} is a symbolic link to ${path.join(dir, "nowhere")}, which does not exist`)
      yield* refused(path.join(dir, "loop1", "wh"), `${path.join(dir, "loop1")} is a loop of symbolic links`)
      yield* refused(path.join(dir, "d".repeat(300)), "is too long a path for the file system")
      // `--warehouse=~/wh`, or an env file's: a directory named ~ in the working directory.
      yield* refused("~/wh", "a path without a leading ~")
      yield* refused("~", "a path without a leading ~")
      assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["dangling", "file", "loop1", "loop2"], "nothing made")
    }).pipe(Effect.scoped))

  it.effect("a SQLite catalog a file stands in the way of, one SQLite cannot open, or under ~, is refused", () =>
    Effect.gen(function*() {
      const dir = yield* oddities
      const refused = (catalog: string, says: string) =>
        Effect.map(parseFlag(lakehouseFlags.catalog, {}, { catalog: [catalog] }), (exit) => assert.include(refusal(exit), says))
      yield* refused(path.join(dir, "file", "catalog.db"), `${path.join(dir, "file")} is not a directory`)
      yield* refused(path.join(dir, "x".repeat(200), "y".repeat(200), "z".repeat(100), "catalog.db"), "at most 504 bytes of absolute path")
      yield* refused("~/catalog.db", "a path without a leading ~")
    }).pipe(Effect.scoped))

  it.effect("a SQLite catalog that is a directory, a device, a loop of links or a link into a missing directory is refused, from the flag or K2_CATALOG", () =>
    Effect.gen(function*() {
      const dir = yield* oddities
      fs.symlinkSync(path.join(dir, "missing", "catalog.db"), path.join(dir, "astray.db"))
      const refused = (catalog: string, says: string) =>
        Effect.gen(function*() {
          assert.include(refusal(yield* parseFlag(lakehouseFlags.catalog, {}, { catalog: [catalog] })), says)
          assert.include(refusal(yield* parseFlag(lakehouseFlags.catalog, { K2_CATALOG: catalog })), says)
        })
      // Taken, each failed only as the catalog opened: "catalog unavailable: unable to open database
      // file", exit 1, the warehouse directory made and left empty.
      yield* refused(dir, `${dir} is a directory`)
      yield* refused("/dev/null", "/dev/null is not a regular file")
      yield* refused(path.join(dir, "loop1"), `${path.join(dir, "loop1")} is a loop of symbolic links`)
      yield* refused(path.join(dir, "astray.db"), `${path.join(dir, "astray.db")} is a symbolic link to ${path.join(dir, "missing", "catalog.db")}, in a directory that does not exist`)
      // A link to a file yet to be made in a directory that exists is SQLite's to make.
      const taken = yield* parseFlag(lakehouseFlags.catalog, {}, { catalog: [path.join(dir, "dangling")] })
      assert.isTrue(Exit.isSuccess(taken), String(taken))
    }).pipe(Effect.scoped))

  it.effect("ingest: a --catalog that is a directory is a usage error (exit 2), the warehouse not made", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("k2-paths-")
      const { code, output } = yield* run("ingest", ["--warehouse", path.join(dir, "wh"), "--catalog", dir, "--events", "10"])
      assert.strictEqual(code, 2, output)
      assert.include(output, `${dir} is a directory`)
      assert.isFalse(fs.existsSync(path.join(dir, "wh")), "warehouse made")
    }).pipe(Effect.scoped))

  it.effect("--catalog :memory: is no file: taken from a working directory longer than SQLite's path limit, as a directory named ~foo is", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("k2-paths-")
      const deep = path.join(dir, "x".repeat(200), "y".repeat(200), "z".repeat(100))
      fs.mkdirSync(deep, { recursive: true })
      const before = process.cwd()
      const taken = (catalog: string) =>
        Effect.map(parseFlag(lakehouseFlags.catalog, {}, { catalog: [catalog] }), (exit) => assert.isTrue(Exit.isSuccess(exit), `${catalog}: ${String(exit)}`))
      yield* Effect.sync(() => process.chdir(deep)).pipe(
        Effect.andThen(taken(":memory:")),
        Effect.ensuring(Effect.sync(() => process.chdir(before)))
      )
      yield* taken(path.join(dir, "~foo", "catalog.db"))
    }).pipe(Effect.scoped))

  it.effect("ingest: a warehouse whose catalog would be too long for SQLite is refused before anything is made", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("k2-paths-")
      const warehouse = path.join(dir, ...Array.from({ length: 20 }, () => "abcdefghijklmnopqrstuvwxy"))
      const r = yield* run("ingest", ["--warehouse", warehouse, "--events", "5", "--partitions", "1"])
      assert.strictEqual(r.code, 2, r.output)
      assert.include(r.output, "at most 504 bytes of absolute path")
      // Was exit 1, "unable to open database file", and the warehouse's 20 directories left behind.
      assert.deepStrictEqual(fs.readdirSync(dir), [], "nothing made")
    }).pipe(Effect.scoped), 90_000)

  it.effect("ingest and serve: a warehouse the file system will not make fails naming it, not spinning for ever", () =>
    Effect.gen(function*() {
      const ingest = yield* run("ingest", ["--warehouse", "/proc/k2-no-such/wh", "--events", "5", "--partitions", "1"])
      assert.strictEqual(ingest.code, 1, ingest.output)
      assert.include(ingest.output, "cannot make directory /proc/k2-no-such: /proc takes no new directory")
      const serve = yield* run("serve", ["--warehouse", "/proc/k2-no-such/wh", "--port", "0"], { K2_API_AUTH: "off" })
      assert.strictEqual(serve.code, 1, serve.output)
      assert.include(serve.output, "cannot make directory /proc/k2-no-such: /proc takes no new directory")
    }), 150_000)
})

describe("files a setting names", () => {
  // A PEM or password file read whole: one without an end held serve's start for ever.
  it.effect("a TLS file without an end (/dev/zero) stops serve naming the variable (exit 2), not reading for ever", () =>
    Effect.gen(function*() {
      const serve = yield* run("serve", ["--warehouse", yield* tempDir("k2-paths-"), "--port", "0"], {
        K2_API_AUTH: "off",
        K2_API_TLS_CERT_FILE: "/dev/zero",
        K2_API_TLS_KEY_FILE: "/dev/zero"
      })
      assert.strictEqual(serve.code, 2, serve.output)
      assert.include(serve.output, "K2_API_TLS_CERT_FILE: /dev/zero holds more than 1 MiB")
    }).pipe(Effect.scoped), 90_000)
})
