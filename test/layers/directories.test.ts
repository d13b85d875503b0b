/**
 * Making directories, and telling a path that cannot be one (src/layers/directories.ts). Node's
 * `mkdir(dir, { recursive: true })` spun for ever (100 % CPU, deaf to SIGTERM) where a parent
 * takes no new entry without saying EEXIST or ENOTDIR: `/proc/x/y`.
 */
import * as fs from "node:fs"
import nodeFs from "node:fs"
import { syncBuiltinESMExports } from "node:module"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { directoryProblem, makeDirectory, makeDirectorySync, MAX_PARENT_REMOVALS } from "../../src/layers/directories.ts"
import { tempDir } from "../support/tempDir.ts"

/** The error `f` throws (or rejects with), failing the test if it does not. */
const thrown = async (f: () => unknown): Promise<NodeJS.ErrnoException> => {
  try {
    await f()
  } catch (e) {
    return e as NodeJS.ErrnoException
  }
  return assert.fail("no error")
}

/** A scratch directory holding a file, a link to nothing and a loop of links. */
const oddities = Effect.gen(function*() {
  const dir = yield* tempDir("k2-dirs-")
  fs.writeFileSync(path.join(dir, "file"), "")
  fs.symlinkSync(path.join(dir, "nowhere", "wh"), path.join(dir, "dangling"))
  fs.symlinkSync(path.join(dir, "loop2"), path.join(dir, "loop1"))
  fs.symlinkSync(path.join(dir, "loop1"), path.join(dir, "loop2"))
  return dir
})

/**
 * Makes `target` (sync or not) with node:fs's mkdir, both forms, calling `before` with each path
 * first: another process's step in a race (what `before` throws, that mkdir fails with). The real
 * mkdir is put back after.
 */
const makingWhile = (before: (p: fs.PathLike) => void, sync: boolean, target: string) => {
  const realSync = nodeFs.mkdirSync
  const realAsync = nodeFs.promises.mkdir
  nodeFs.mkdirSync = ((p: fs.PathLike, o?: fs.MakeDirectoryOptions) => (before(p), realSync(p, o))) as typeof fs.mkdirSync
  nodeFs.promises.mkdir = ((p: fs.PathLike, o?: fs.MakeDirectoryOptions) => {
    try {
      before(p)
    } catch (e) {
      return Promise.reject(e)
    }
    return realAsync(p, o)
  }) as typeof fs.promises.mkdir
  syncBuiltinESMExports()
  return Effect.tryPromise(() => (sync ? Promise.resolve().then(() => makeDirectorySync(target)) : makeDirectory(target))).pipe(
    Effect.mapError((e) => e.cause as NodeJS.ErrnoException),
    Effect.ensuring(Effect.sync(() => {
      nodeFs.mkdirSync = realSync
      nodeFs.promises.mkdir = realAsync
      syncBuiltinESMExports()
    }))
  )
}

describe("makeDirectory, makeDirectorySync", () => {
  it.effect("make the missing directories and answer the first made, as mkdir -p; nothing made of one that exists", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("k2-dirs-")
      assert.strictEqual(makeDirectorySync(path.join(dir, "a", "b")), path.join(dir, "a"))
      assert.strictEqual(yield* Effect.promise(() => makeDirectory(path.join(dir, "a", "b", "c", "d"))), path.join(dir, "a", "b", "c"))
      assert.isTrue(fs.statSync(path.join(dir, "a", "b", "c", "d")).isDirectory())
      assert.isUndefined(makeDirectorySync(dir))
      assert.isUndefined(yield* Effect.promise(() => makeDirectory(path.join(dir, "a"))))
      // Through a link to a directory, as mkdir -p.
      fs.symlinkSync(path.join(dir, "a"), path.join(dir, "link"))
      assert.isUndefined(makeDirectorySync(path.join(dir, "link")))
      assert.strictEqual(makeDirectorySync(path.join(dir, "link", "e")), path.join(dir, "link", "e"))
    }).pipe(Effect.scoped))

  it.effect("another maker winning a directory on the way: the first this call made is still answered (its name is synced, ADR-43)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("k2-dirs-")
      // The real one: the other maker's mkdir does not meet the race.
      const realMkdir = nodeFs.mkdirSync
      for (const sync of [false, true]) {
        const top = path.join(dir, `${sync}`)
        const middle = path.join(top, "b")
        // Another process (or fiber) makes `b` just after this call made `top`, before it makes `b` itself.
        let calls = 0
        const made = yield* makingWhile((p) => void (p === middle && ++calls === 2 && realMkdir(middle)), sync, path.join(middle, "c"))
        assert.strictEqual(calls, 2, "the race happened")
        assert.strictEqual(made, top, sync ? "sync" : "async")
        assert.isTrue(fs.statSync(path.join(middle, "c")).isDirectory())
      }
    }).pipe(Effect.scoped))

  it.effect("a parent removed between making it and making the directory in it is made again, a bounded number of times", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("k2-dirs-")
      /** Makes `<top>/b/c` with `b` removed just before each `mkdir` of `c` that finds it there, up to `removals` times. */
      const making = (sync: boolean, top: string, removals: number) => {
        const middle = path.join(top, "b")
        const target = path.join(middle, "c")
        let removed = 0
        // Another process removing `b` (cleaning up, a table purged) after this call made it.
        const racing = (p: fs.PathLike) => void (p === target && fs.existsSync(middle) && removed < removals && (removed++, fs.rmdirSync(middle)))
        return makingWhile(racing, sync, target).pipe(Effect.map((made) => ({ made, removed })))
      }
      for (const sync of [false, true]) {
        for (const removals of [1, MAX_PARENT_REMOVALS]) {
          const top = path.join(dir, `${sync}-${removals}`)
          const { made } = yield* making(sync, top, removals)
          // Still the first directory this call made (its name is synced, ADR-43).
          assert.strictEqual(made, top, `${sync} ${removals}`)
          assert.isTrue(fs.statSync(path.join(top, "b", "c")).isDirectory())
        }
        // Removed every time: refused, naming the parent, not tried for ever.
        const top = path.join(dir, `${sync}-always`)
        const error = yield* Effect.flip(making(sync, top, Number.POSITIVE_INFINITY))
        assert.strictEqual(error.code, "ENOENT")
        assert.include(error.message, `cannot make directory ${path.join(top, "b", "c")}: ${path.join(top, "b")} was removed each time it was made, ${MAX_PARENT_REMOVALS + 1} times`)
      }
    }).pipe(Effect.scoped))

  it.effect("a directory another process made and removed between this call's EEXIST and its stat is made again, a bounded number of times", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir("k2-dirs-")
      /** Makes `target`, each `mkdir` of it saying EEXIST of a directory gone by the stat, up to `races` times. */
      const making = (sync: boolean, target: string, races: number) => {
        let raced = 0
        // Another process made `target` just before this call's mkdir, and removed it just after (a cleanup, a table purged).
        const racing = (p: fs.PathLike) => {
          if (p === target && fs.existsSync(path.dirname(target)) && raced < races && ++raced > 0) {
            throw Object.assign(new Error(`EEXIST: file already exists, mkdir '${target}'`), { code: "EEXIST", syscall: "mkdir", path: target })
          }
        }
        return makingWhile(racing, sync, target)
      }
      for (const sync of [false, true]) {
        for (const races of [1, MAX_PARENT_REMOVALS]) {
          // Its parent there, and missing (made by this call first, the race after it).
          for (const target of [path.join(dir, `${sync}-${races}`), path.join(dir, `${sync}-${races}-top`, "c")]) {
            // It was refused as "a symbolic link to nothing, which does not exist".
            const made = yield* making(sync, target, races)
            assert.strictEqual(made, target.endsWith("c") ? path.dirname(target) : target, `${sync} ${races} ${target}`)
            assert.isTrue(fs.statSync(target).isDirectory())
          }
        }
        // Gone every time: refused, saying so, not tried for ever.
        const target = path.join(dir, `${sync}-always`)
        const error = yield* Effect.flip(making(sync, target, Number.POSITIVE_INFINITY))
        assert.strictEqual(error.code, "EEXIST")
        assert.strictEqual(error.message, `cannot make directory ${target}: it was removed each time another process made it, ${MAX_PARENT_REMOVALS + 1} times`)
      }
    }).pipe(Effect.scoped))

  it.effect("refuse a parent that takes no new directory (/proc) instead of spinning", () =>
    Effect.gen(function*() {
      for (const target of ["/proc/k2-no-such/wh", "/proc/k2-no-such"]) {
        const sync = yield* Effect.promise(() => thrown(() => makeDirectorySync(target)))
        assert.include(sync.message, "cannot make directory /proc/k2-no-such: /proc takes no new directory")
        const async = yield* Effect.promise(() => thrown(() => makeDirectory(target)))
        assert.strictEqual(async.message, sync.message)
      }
    }))

  it.effect("say what stands in the way: a file, a file on the way, a link to nothing, a loop of links", () =>
    Effect.gen(function*() {
      const dir = yield* oddities
      const said = (target: string) => Effect.promise(async () => (await thrown(() => makeDirectory(path.join(dir, target)))).message)
      assert.strictEqual(yield* said("file"), `cannot make directory ${path.join(dir, "file")}: it is not a directory`)
      assert.strictEqual(yield* said("file/sub"), `cannot make directory ${path.join(dir, "file", "sub")}: a path on the way to it is a file, not a directory`)
      assert.strictEqual(yield* said("dangling"), `cannot make directory ${path.join(dir, "dangling")}: a symbolic link to ${path.join(dir, "nowhere", "wh")}, which does not exist`)
      assert.include(yield* said("dangling/sub"), "a symbolic link to")
      assert.strictEqual(yield* said("loop1/sub"), `cannot make directory ${path.join(dir, "loop1", "sub")}: a loop of symbolic links`)
      assert.isFalse(fs.existsSync(path.join(dir, "nowhere")), "the link's target is not made")
    }).pipe(Effect.scoped))
})

describe("directoryProblem", () => {
  it.effect("names what can never be a directory, reading only", () =>
    Effect.gen(function*() {
      const dir = yield* oddities
      const at = (p: string) => path.join(dir, p)
      assert.isUndefined(directoryProblem(dir))
      assert.isUndefined(directoryProblem(at("missing/wh")), "missing: made later")
      assert.isUndefined(directoryProblem("/proc/k2-no-such/wh"), "only making it tells")
      assert.strictEqual(directoryProblem(at("file")), `${at("file")} is not a directory`)
      assert.strictEqual(directoryProblem(at("file/sub/wh")), `${at("file")} is a file, not a directory`)
      assert.strictEqual(directoryProblem(at("dangling")), `${at("dangling")} is a symbolic link to ${at("nowhere/wh")}, which does not exist`)
      assert.strictEqual(directoryProblem(at("dangling/wh")), `${at("dangling")} is a symbolic link to ${at("nowhere/wh")}, which does not exist`)
      assert.strictEqual(directoryProblem(at("loop1")), `${at("loop1")} is a loop of symbolic links`)
      assert.include(directoryProblem(at(`${"d".repeat(300)}/wh`)), "is too long a path for the file system")
      assert.include(directoryProblem(at("d/".repeat(2100))), "is too long a path for the file system")
      assert.deepStrictEqual(fs.readdirSync(dir).sort(), ["dangling", "file", "loop1", "loop2"], "nothing made")
    }).pipe(Effect.scoped))
})
