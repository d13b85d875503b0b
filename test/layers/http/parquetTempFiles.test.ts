/**
 * A Parquet answer is written to a temporary file and streamed from it. The request owns the
 * file: a body never read (the client gone before it) holds no descriptor and leaves no file once
 * the request ends; and a starting server deletes what a process that died mid-request left.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Stream } from "effect"
import { STALE_TEMP_MS, parquetResponse, sweepStaleTempDirs, sweepTempDirs } from "../../../src/layers/http/respond.ts"

/** The files under `dir` this process holds open (Linux). */
const openUnder = (dir: string) =>
  fs.readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      return [fs.readlinkSync(`/proc/self/fd/${fd}`)]
    } catch {
      return [] // closed meanwhile (the readdir's own descriptor)
    }
  }).filter((target) => target.startsWith(dir))

/** os.tmpdir() is a directory of this test's own while `body` runs. */
const inOwnTmp = <A, E, R>(body: (tmp: string) => Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "k2-parquet-test-"))
      const saved = process.env["TMPDIR"]
      process.env["TMPDIR"] = tmp
      return { tmp, saved }
    }),
    ({ tmp }) => body(tmp),
    ({ tmp, saved }) =>
      Effect.sync(() => {
        if (saved === undefined) delete process.env["TMPDIR"]
        else process.env["TMPDIR"] = saved
        fs.rmSync(tmp, { recursive: true, force: true })
      })
  )

const BYTES = Buffer.from("PAR1 not really parquet PAR1")
const writeFake = (file: string) => Effect.sync(() => fs.writeFileSync(file, BYTES))

describe("Parquet temp files", () => {
  it.live("a GET whose body is never read (the client gone) holds no descriptor, and its file goes when the request ends", () =>
    inOwnTmp((tmp) =>
      Effect.gen(function*() {
        yield* Effect.scoped(Effect.gen(function*() {
          const response = yield* parquetResponse(writeFake, {})
          assert.strictEqual(response.headers["content-length"], String(BYTES.length))
          // An open made up front lands on the libuv pool: give it time to show in /proc.
          for (let i = 0; i < 50 && openUnder(tmp).length === 0; i++) yield* Effect.sleep("10 millis")
          assert.deepStrictEqual(openUnder(tmp), [])
        }))
        assert.deepStrictEqual(fs.readdirSync(tmp), [])
      })
    ))

  it.live("a GET's body, once read, is the file; then neither descriptor nor file is left", () =>
    inOwnTmp((tmp) =>
      Effect.gen(function*() {
        const body = yield* Effect.scoped(Effect.gen(function*() {
          const response = yield* parquetResponse(writeFake, {})
          assert.strictEqual(response.body._tag, "Stream")
          if (response.body._tag !== "Stream") return Buffer.alloc(0)
          const chunks = yield* Stream.runCollect(response.body.stream)
          return Buffer.concat(chunks.map((c) => Buffer.from(c)))
        }))
        assert.deepStrictEqual(body, BYTES)
        assert.deepStrictEqual(openUnder(tmp), [])
        assert.deepStrictEqual(fs.readdirSync(tmp), [])
      })
    ))

  it("a starting server's sweep deletes only K2's Parquet directories untouched for a day", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "k2-sweep-test-"))
    try {
      const now = Date.UTC(2026, 0, 10)
      const old = new Date(now - STALE_TEMP_MS - 60_000)
      const recent = new Date(now - 60_000)
      const make = (name: string, dirTime: Date, fileTime: Date) => {
        const dir = path.join(root, name)
        fs.mkdirSync(dir)
        fs.writeFileSync(path.join(dir, "result.parquet"), "x")
        fs.utimesSync(path.join(dir, "result.parquet"), fileTime, fileTime)
        fs.utimesSync(dir, dirTime, dirTime)
      }
      make("k2-api-AbC123", old, old) // left by a process that died a day ago
      make("k2-api-Def456", recent, recent) // a running request's
      make("k2-api-Ghi789", old, recent) // a file still being written
      make("k2-api-test-Jkl012", old, old) // not a Parquet answer's
      make("other-Mno345", old, old)
      assert.deepStrictEqual(sweepTempDirs(root, now - STALE_TEMP_MS), ["k2-api-AbC123"])
      assert.deepStrictEqual(fs.readdirSync(root).sort(), ["k2-api-Def456", "k2-api-Ghi789", "k2-api-test-Jkl012", "other-Mno345"])
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  })

  it.effect("a starting server whose TMPDIR names no directory says so and starts", () =>
    Effect.gen(function*() {
      const missing = path.join(os.tmpdir(), "k2-no-such-tmpdir", "at-all")
      const logged: Array<string> = []
      const capture = Logger.make(({ message }) => void logged.push((Array.isArray(message) ? message : [message]).map(String).join(" ")))
      const saved = process.env.TMPDIR
      // os.tmpdir() reads TMPDIR on each call; restored before anything else runs.
      const exit = yield* Effect.acquireUseRelease(
        Effect.sync(() => void (process.env.TMPDIR = missing)),
        () => Effect.exit(sweepStaleTempDirs),
        () => Effect.sync(() => void (saved === undefined ? delete process.env.TMPDIR : (process.env.TMPDIR = saved)))
      ).pipe(Effect.provide(Logger.layer([capture])))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.strictEqual(logged.length, 1, logged.join("; "))
      assert.include(logged[0], `cannot read the temporary directory ${missing} (TMPDIR)`)
      assert.include(logged[0], "Parquet answers")
    }))
})
