/**
 * stdout that cannot be written (a full disk, a descriptor opened read-only): the program says so
 * in one line and exits 1. Before, the write error was rethrown from the stream's error handler:
 * Node printed an uncaught-exception stack trace.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { repo } from "../support/programs.ts"

/** `query --help` (no warehouse needed) with stdout on `fd`: its exit code and stderr. */
const helpTo = (fd: number) =>
  Effect.promise(() =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", path.join(repo, "src/programs/query.ts"), "--help"], {
        cwd: repo,
        stdio: ["ignore", fd, "pipe"]
      })
      let stderr = ""
      child.stderr!.on("data", (d) => (stderr += d))
      child.on("close", (code) => resolve({ code, stderr }))
    })
  )

const assertClearFailure = (result: { code: number | null; stderr: string }, code: string) => {
  assert.strictEqual(result.code, 1, result.stderr)
  assert.match(result.stderr, new RegExp(`^error: cannot write to stdout: .*${code}`, "m"), result.stderr)
  assert.notMatch(result.stderr, /^\s+at /m, result.stderr)
}

describe("a program whose stdout cannot be written", () => {
  it.effect("on a full disk (ENOSPC) says so in one line and exits 1", () =>
    Effect.gen(function*() {
      const fd = fs.openSync("/dev/full", "w")
      try {
        assertClearFailure(yield* helpTo(fd), "ENOSPC")
      } finally {
        fs.closeSync(fd)
      }
    }), { timeout: 60_000 })

  it.effect("on a descriptor open read-only (EBADF) says so in one line and exits 1", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-stdout-"))
      const file = path.join(dir, "out")
      fs.writeFileSync(file, "")
      const fd = fs.openSync(file, "r")
      try {
        assertClearFailure(yield* helpTo(fd), "EBADF")
      } finally {
        fs.closeSync(fd)
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }), { timeout: 60_000 })
})

describe("a program whose stderr reader has gone", () => {
  it.effect("goes on with its work and its answer on stdout, exit 0 (`2>&1 | head -1` as well)", () =>
    Effect.gen(function*() {
      const warehouse = fs.mkdtempSync(path.join(os.tmpdir(), "k2-stderr-"))
      const result = yield* Effect.promise(() =>
        new Promise<{ code: number | null; stdout: string }>((resolve) => {
          const child = spawn(
            process.execPath,
            ["--disable-warning=ExperimentalWarning", path.join(repo, "src/programs/ingest.ts"), "--warehouse", warehouse, "--events", "100"],
            { cwd: repo, stdio: ["ignore", "pipe", "pipe"] }
          )
          // The reader of stderr leaves before the program's first line there: each write to it fails, EPIPE.
          child.stderr!.destroy()
          let stdout = ""
          child.stdout!.on("data", (d) => (stdout += d))
          child.on("close", (code) => resolve({ code, stdout }))
        })
      )
      fs.rmSync(warehouse, { recursive: true, force: true })
      assert.strictEqual(result.code, 0, result.stdout)
      assert.match(result.stdout, /^ingested in /m)
    }), { timeout: 60_000 })
})
