/**
 * Loaded with `--import` (NODE_OPTIONS, set by vitest.config.ts) into every Node process the tests
 * start: keeps the JavaScript that Node's type stripping makes of each `.ts` module in a directory,
 * by the hash of its source, and hands that back on the next start instead of stripping again.
 * Node 22 does not cache stripped TypeScript (its compile cache holds the V8 code of what it
 * compiles, after stripping): each program a test started spent ~a quarter of its CPU in the
 * stripper (SWC as WebAssembly) and its garbage. The output is Node's own `stripTypeScriptTypes`,
 * so a program runs the very JavaScript it would have run. Plain JavaScript: a `.ts` hook would be
 * stripped itself, in every process.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { registerHooks, stripTypeScriptTypes } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { threadId } from "node:worker_threads"

// Named by vitest.config.ts, not found from TMPDIR: tests that give a child its own TMPDIR check it stays empty.
const dir = path.join(process.env["K2_STRIP_TYPES_CACHE"] ?? path.join(os.tmpdir(), "k2-strip-types-cache"), `${process.version}-${process.arch}`)

/**
 * What Node's loader makes of a module's TypeScript (`stripTypeScriptModuleTypes`: the code with its
 * types blanked out, then `//# sourceURL=<url>`), without the experimental-feature warning
 * `stripTypeScriptTypes` prints once per process.
 */
const strip = (source, url) => {
  const emitWarning = process.emitWarning
  process.emitWarning = () => {}
  try {
    return stripTypeScriptTypes(source, { mode: "strip", sourceUrl: url })
  } finally {
    process.emitWarning = emitWarning
  }
}

registerHooks({
  load(url, context, nextLoad) {
    const loaded = nextLoad(url, context)
    // Only where Node would strip as this does: not when it transforms, adds source maps or refuses
    // (TypeScript under node_modules).
    if (
      loaded.format !== "module-typescript" || loaded.source === undefined || loaded.source === null ||
      process.features.typescript !== "strip" || process.sourceMapsEnabled || url.includes("/node_modules/")
    ) return loaded
    const source = typeof loaded.source === "string" ? loaded.source : Buffer.from(loaded.source).toString("utf8")
    const file = path.join(dir, `${createHash("sha256").update(url).update("\0").update(source).digest("hex")}.js`)
    let js
    try {
      js = fs.readFileSync(file, "utf8")
    } catch {
      js = undefined
    }
    // Whole only with the trailer the stripper ends it with: an entry cut short (renamed, unsynced,
    // before a crash: empty after it) would run as the module, whatever of it is there, in every start.
    if (js === undefined || !js.endsWith(`//# sourceURL=${url}`)) {
      js = strip(source, url)
      // Written aside and renamed: a process reading it meanwhile never sees half a file. One name
      // a thread: worker threads share the pid.
      const temp = `${file}.${process.pid}.${threadId}.tmp`
      try {
        fs.mkdirSync(dir, { recursive: true })
        fs.writeFileSync(temp, js)
        fs.renameSync(temp, file)
      } catch {
        // A cache that cannot be written is only slower (what a full one took is given back).
        try {
          fs.rmSync(temp, { force: true })
        } catch { /* nothing there, or nothing to do */ }
      }
    }
    return { format: "module", source: js, shortCircuit: true }
  }
})
