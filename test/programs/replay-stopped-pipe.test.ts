/**
 * `npm run replay ... | slow-reader` stopped by a signal: what the stop says was written is what
 * the reader gets, each line whole. The program exited at once, its last batch still in its stdout
 * buffer: the reader got a part of it and a cut last line, while the message counted the whole
 * batch, and a replay resumed from "the last" it named skipped the events lost between.
 */
import { spawn } from "node:child_process"
import * as path from "node:path"
import { Writable } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { afterWritten } from "../../src/programs/cli/run.ts"
import { repo } from "../support/programs.ts"
import { tradesWarehouse } from "../support/warehouse.ts"

describe("the exit after a signal or a failure", () => {
  it("waits until what stdout holds has gone to its reader", () => {
    const pending: Array<() => void> = []
    let reading = false
    // A reader that takes nothing until it reads again.
    const out = new Writable({ highWaterMark: 1024, write: (_chunk, _enc, done) => reading ? done() : void pending.push(done) })
    out.write("x".repeat(4096))
    let exited = false
    afterWritten(out, () => void (exited = true))
    assert.isFalse(exited, "not while the reader has not taken it")
    reading = true
    for (const done of pending.splice(0)) done()
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        assert.isTrue(exited)
        resolve()
      })
    )
  })

  it("exits at once when nothing is held, or the stream is gone", () => {
    let exits = 0
    afterWritten(new Writable({ write: (_c, _e, done) => done() }), () => void exits++)
    const gone = new Writable({ write: () => {} })
    gone.write("x")
    gone.destroy()
    afterWritten(gone, () => void exits++)
    assert.strictEqual(exits, 2)
  })
})

describe("npm run replay to a slow pipe, stopped", () => {
  it.effect("the events it says were written reach the reader, each line whole", () =>
    Effect.gen(function*() {
      // Megabytes of NDJSON: far more than a pipe holds.
      const dir = yield* tradesWarehouse(5_000)
      const child = spawn(process.execPath, [
        "--disable-warning=ExperimentalWarning",
        path.join(repo, "src/programs/replay.ts"),
        "--from", "2024-01-01", "--to", "2024-01-05", "--warehouse", dir
      ], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] })
      let stderr = ""
      child.stderr!.on("data", (d) => void (stderr += String(d)))
      const chunks: Array<Buffer> = []
      const code = new Promise<number | null>((resolve) => child.on("close", resolve))
      // The reader takes the first chunk, then stops reading: the rest waits in the replay's buffer.
      yield* Effect.promise(() =>
        new Promise<void>((resolve) =>
          child.stdout!.once("data", (d: Buffer) => {
            chunks.push(d)
            child.stdout!.pause()
            resolve()
          })
        )
      )
      child.kill("SIGINT")
      // The stop is said before the reader comes back: the replay must not end before its output is out.
      yield* Effect.promise(() => new Promise<void>((resolve) => child.stderr!.on("data", () => stderr.includes("replay stopped") && resolve())))
      child.stdout!.on("data", (d: Buffer) => void chunks.push(d))
      child.stdout!.resume()
      assert.strictEqual(yield* Effect.promise(() => code), 1, stderr)
      const said = /replay stopped before its end: (\d+) events written, the last at \S+ \(trade (\S+)\)/.exec(stderr)
      assert.isNotNull(said, stderr)
      const text = Buffer.concat(chunks).toString()
      assert.isTrue(text.endsWith("\n"), "the last line is whole")
      const lines = text.split("\n").slice(0, -1).map((l) => JSON.parse(l) as { message_id: string })
      assert.strictEqual(lines.length, Number(said![1]))
      assert.strictEqual(lines.at(-1)!.message_id, said![2])
    }), 120_000)
})
