/**
 * test/support/stripTypesCache.mjs (ADR-87), the load hook the processes tests start run with: a
 * cached entry is the JavaScript of the module's source, or it is not used.
 */
import { execFile } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { tempDir } from "../support/tempDir.ts"

const hook = path.resolve(import.meta.dirname, "../support/stripTypesCache.mjs")

/** Runs `file` with the hook, its cache under `tmp`: its stdout and stderr. */
const run = (file: string, tmp: string) =>
  Effect.callback<{ readonly stdout: string; readonly stderr: string }>((resume) => {
    execFile(process.execPath, [file], { env: { ...process.env, TMPDIR: tmp, K2_STRIP_TYPES_CACHE: path.join(tmp, "k2-strip-types-cache"), NODE_OPTIONS: `--import=${JSON.stringify(pathToFileURL(hook).href)}` } }, (_error, stdout, stderr) =>
      resume(Effect.succeed({ stdout, stderr })))
  })

describe("stripTypesCache.mjs", () => {
  it.effect("an entry cut short (a crash before its data reached the disk) is stripped again, not run as the module", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("k2-strip-cache-")
      const file = path.join(dir, "mod.ts")
      const source = `const n: number = 41\nconsole.log(\`ran \${n + 1}\`)\n`
      fs.writeFileSync(file, source)
      fs.writeFileSync(path.join(dir, "package.json"), `{ "type": "module" }`)
      const cached = path.join(dir, "k2-strip-types-cache", `${process.version}-${process.arch}`)
      const first = yield* run(file, dir)
      assert.strictEqual(first.stdout, "ran 42\n", first.stderr)
      const entries = fs.readdirSync(cached).filter((f) => f.endsWith(".js"))
      assert.deepStrictEqual(entries, [`${createHash("sha256").update(pathToFileURL(file).href).update("\0").update(source).digest("hex")}.js`])
      for (const cut of ["", "const n = 41\n"]) {
        fs.writeFileSync(path.join(cached, entries[0]!), cut)
        const again = yield* run(file, dir)
        assert.strictEqual(again.stdout, "ran 42\n", JSON.stringify(cut))
      }
    }).pipe(Effect.scoped))
})
