/**
 * No test is left focused or switched off: a focused test silently skips every other one in its
 * file, and a skipped or todo test passes while checking nothing. Conditional skips (skipIf,
 * runIf) name the condition and stay allowed.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { alive, spawnNode } from "../support/programs.ts"

const TEST_ROOT = path.resolve(import.meta.dirname, "..")
const FORBIDDEN = /\.(only|skip|todo)\s*\(|\b(fit|fdescribe|xit|xdescribe|xtest)\s*\(/

const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const at = path.join(dir, e.name)
    if (e.isDirectory()) return e.name === "node_modules" || e.name === "target" ? [] : sources(at)
    return /\.(ts|mts|js|mjs)$/.test(e.name) ? [at] : []
  })

/** `file:line: text` of every line that focuses or switches off a test. */
const offenders = (files: ReadonlyArray<string>, read: (file: string) => string = (f) => fs.readFileSync(f, "utf8")) =>
  files.flatMap((file) =>
    read(file).split("\n").flatMap((line, i) => FORBIDDEN.test(line) ? [`${path.relative(TEST_ROOT, file)}:${i + 1}: ${line.trim()}`] : [])
  )

describe("test hygiene", () => {
  it("finds what it looks for (the check itself can fail)", () => {
    // Spelled in pieces, so this file does not match itself.
    const dot = "."
    const lines = [`it${dot}only("a", () => {})`, `describe${dot}skip("b", () => {})`, `it.effect${dot}todo("c")`, `it${dot}skipIf(x)("d", () => {})`, `x${""}it("e")`]
    const files = lines.map((_, i) => path.join(TEST_ROOT, `f${i}.ts`))
    const found = offenders(files, (f) => lines[files.indexOf(f)]!)
    assert.deepStrictEqual(found.map((o) => o.split(":")[0]), ["f0.ts", "f1.ts", "f2.ts", "f4.ts"])
  })

  it("no test under test/ is focused, skipped or todo", () => {
    const files = sources(TEST_ROOT)
    assert.isAbove(files.length, 100, "the test sources were found")
    assert.deepStrictEqual(offenders(files), [])
  })

  describe("a process a test started and left running", () => {
    let left: number | undefined
    it("is left running here", () => {
      left = spawnNode(["-e", "setTimeout(() => {}, 120_000)"], {}).child.pid
      assert.isTrue(left !== undefined && alive(left))
    })
    it("is killed when its test ends", async () => {
      for (let i = 0; i < 50 && alive(left!); i++) await new Promise((r) => setTimeout(r, 20))
      assert.isFalse(alive(left!))
    })
  })

  describe.concurrent("a process one of the tests running at once started", () => {
    // Vitest's current test is the last one started, not the one whose code runs: the first one's
    // process was tied to the second and killed when the second ended.
    const signal = () => {
      let resolve = () => {}
      const promise = new Promise<void>((r) => (resolve = r))
      return { promise, resolve: () => resolve() }
    }
    const secondStarted = signal()
    const spawned = signal()
    const secondEnded = signal()
    it("is not killed when another of them ends", async () => {
      await secondStarted.promise
      const p = spawnNode(["-e", "setTimeout(() => {}, 120_000)"], {})
      spawned.resolve()
      await secondEnded.promise
      const killed = p.child.killed
      p.child.kill("SIGKILL")
      assert.isFalse(killed)
    })
    it("ends while the other's process runs", async ({ onTestFinished }) => {
      // Registered first, so run after any kill this test's end makes (its hooks run in reverse).
      onTestFinished(() => secondEnded.resolve())
      secondStarted.resolve()
      await spawned.promise
    })
  })
})
