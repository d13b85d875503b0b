/**
 * Making directories, and telling a path that cannot be one: every directory K2 makes (the
 * warehouse, a table's, the SQLite catalog's, a feed's output) is made here.
 *
 * Node's `mkdir(dir, { recursive: true })` never returns where the parent exists but refuses new
 * entries without saying EEXIST or ENOTDIR (`/proc`: `mkdir /proc/x` is ENOENT): it makes the
 * parent again (EEXIST, so done) and retries the child, for ever, one CPU at 100 % and deaf to
 * SIGTERM (the sync one holds the event loop). Here each missing directory is made once, from the
 * highest missing one down, and a refusal is an error naming the directory and why. A parent
 * removed between making it and making the directory in it is made again, at most
 * MAX_PARENT_REMOVALS times (it failed the first time, as a parent taking no new entries), as is
 * a directory that another process made (EEXIST) and removed before its stat here (it was refused
 * as a symbolic link to nothing).
 */
import * as fs from "node:fs"
import * as path from "node:path"

/** The error of an `mkdir` of `dir` that failed with `cause`, saying what it means for a directory to be made there. */
const refused = (dir: string, cause: NodeJS.ErrnoException, why = reasonOf(dir, cause)): NodeJS.ErrnoException =>
  Object.assign(new Error(`cannot make directory ${dir}: ${why}`, { cause }), { code: cause.code, syscall: "mkdir", path: dir })

const reasonOf = (dir: string, cause: NodeJS.ErrnoException) =>
  cause.code === "ENOENT"
    ? `${path.dirname(dir)} takes no new directory (${cause.code})`
    : cause.code === "ENOTDIR"
    ? "a path on the way to it is a file, not a directory"
    : cause.code === "EEXIST"
    ? "it is not a directory"
    : cause.code === "ELOOP"
    ? "a loop of symbolic links"
    : cause.message

/**
 * What stands at `dir` (its stat, or the stat's failure), once `mkdir` said something does: true
 * for a directory (through links), false for nothing any more (another process removed what it
 * had made there since: to be made again), else the refusal.
 */
const existing = (dir: string, cause: NodeJS.ErrnoException, stat: fs.Stats | NodeJS.ErrnoException): boolean => {
  if (stat instanceof Error) {
    if (stat.code !== "ENOENT") throw refused(dir, stat)
    // A link to nothing, or nothing at all: the stat cannot tell them apart. Taken for a link to
    // nothing, a directory removed between the EEXIST and the stat was refused as one.
    let target: string
    try {
      target = fs.readlinkSync(dir)
    } catch {
      return false
    }
    throw refused(dir, cause, `a symbolic link to ${target}, which does not exist`)
  }
  if (!stat.isDirectory()) throw refused(dir, cause)
  return true
}

const statSync = (dir: string): fs.Stats | NodeJS.ErrnoException => {
  try {
    return fs.statSync(dir)
  } catch (e) {
    return e as NodeJS.ErrnoException
  }
}

const stat = (dir: string): Promise<fs.Stats | NodeJS.ErrnoException> => fs.promises.stat(dir).catch((e: NodeJS.ErrnoException) => e)

/**
 * The most times a directory is made again after its parent, made (or found) by this call, was
 * removed before the directory itself could be (another process cleaning up, a table purged):
 * each time the missing directories are made again from the highest missing one. A parent removed
 * as often is refused, naming it, rather than tried for ever. It bounds as well the times a
 * directory is made again after another process made it and removed it before its stat here.
 */
export const MAX_PARENT_REMOVALS = 3

/** The refusal of `dir` after its parent was removed MAX_PARENT_REMOVALS times while it was being made. */
const parentKeptGoing = (dir: string, cause: NodeJS.ErrnoException) =>
  refused(dir, cause, `${path.dirname(dir)} was removed each time it was made, ${MAX_PARENT_REMOVALS + 1} times`)

/** The refusal of `dir` after it was found made by another and gone at its stat, MAX_PARENT_REMOVALS + 1 times. */
const keptGoing = (dir: string, cause: NodeJS.ErrnoException) =>
  refused(dir, cause, `it was removed each time another process made it, ${MAX_PARENT_REMOVALS + 1} times`)

/**
 * Makes `dir` and its missing parents, as `fs.mkdirSync(dir, { recursive: true })` but never
 * spinning; returns the first directory it made (undefined when `dir` existed already).
 */
export const makeDirectorySync = (dir: string): string | undefined => makeSync(dir, 0)

/** `makeDirectorySync` of `dir` after its parent was removed `removals` times. */
const makeSync = (dir: string, removals: number): string | undefined => {
  const target = path.resolve(dir)
  try {
    fs.mkdirSync(target)
    return target
  } catch (e) {
    const error = e as NodeJS.ErrnoException
    if (error.code === "EEXIST") return existing(target, error, statSync(target)) ? undefined : madeAgainSync(target, error, removals)
    if (error.code !== "ENOENT" || path.dirname(target) === target) throw refused(target, error)
  }
  const first = makeDirectorySync(path.dirname(target))
  try {
    fs.mkdirSync(target)
  } catch (e) {
    const error = e as NodeJS.ErrnoException
    // Made meanwhile by another process: as good, and what this call made above it is still its
    // to answer (its name is synced by the caller, ADR-43).
    if (error.code === "EEXIST") return existing(target, error, statSync(target)) ? first : higher(first, madeAgainSync(target, error, removals))
    // The parent removed meanwhile: made again. The answer is the highest this call made, either time.
    if (error.code === "ENOENT" && isGone(statSync(path.dirname(target)))) {
      if (removals >= MAX_PARENT_REMOVALS) throw parentKeptGoing(target, error)
      return higher(first, makeSync(target, removals + 1))
    }
    // The parent is there and still says ENOENT: it takes no new entries.
    throw refused(target, error)
  }
  return first ?? target
}

/** `dir` made again after what another process made there was gone at its stat, at most MAX_PARENT_REMOVALS times. */
const madeAgainSync = (dir: string, cause: NodeJS.ErrnoException, removals: number) => {
  if (removals >= MAX_PARENT_REMOVALS) throw keptGoing(dir, cause)
  return makeSync(dir, removals + 1)
}

/** As `madeAgainSync`, without holding the event loop. */
const madeAgain = (dir: string, cause: NodeJS.ErrnoException, removals: number) => {
  if (removals >= MAX_PARENT_REMOVALS) return Promise.reject(keptGoing(dir, cause))
  return make(dir, removals + 1)
}

/** The higher of two directories on the way to one (each made by a call, or undefined). */
const higher = (a: string | undefined, b: string | undefined) => (a === undefined ? b : b === undefined || a.length <= b.length ? a : b)

/** A stat that says nothing is there. */
const isGone = (stat: fs.Stats | NodeJS.ErrnoException) => stat instanceof Error && stat.code === "ENOENT"

/** As `makeDirectorySync`, without holding the event loop. */
export const makeDirectory = (dir: string): Promise<string | undefined> => make(dir, 0)

/** `makeDirectory` of `dir` after its parent was removed `removals` times. */
const make = async (dir: string, removals: number): Promise<string | undefined> => {
  const target = path.resolve(dir)
  try {
    await fs.promises.mkdir(target)
    return target
  } catch (e) {
    const error = e as NodeJS.ErrnoException
    // The common case, a directory there already: one stat, as Node's own mkdir -p makes.
    if (error.code === "EEXIST") return existing(target, error, await stat(target)) ? undefined : madeAgain(target, error, removals)
    if (error.code !== "ENOENT" || path.dirname(target) === target) throw refused(target, error)
  }
  const first = await makeDirectory(path.dirname(target))
  try {
    await fs.promises.mkdir(target)
  } catch (e) {
    const error = e as NodeJS.ErrnoException
    // Made meanwhile by another process: as good, and what this call made above it still answered.
    if (error.code === "EEXIST") return existing(target, error, await stat(target)) ? first : higher(first, await madeAgain(target, error, removals))
    // The parent removed meanwhile: made again, as `makeDirectorySync` does.
    if (error.code === "ENOENT" && isGone(await stat(path.dirname(target)))) {
      if (removals >= MAX_PARENT_REMOVALS) throw parentKeptGoing(target, error)
      return higher(first, await make(target, removals + 1))
    }
    throw refused(target, error)
  }
  return first ?? target
}

/** A path shown in a message: a very long one by its start and length. */
const shown = (p: string) => (p.length > 120 ? `${p.slice(0, 100)}… (${Buffer.byteLength(p)} bytes)` : p)

/**
 * Why `dir` can never be a directory as it stands, or undefined: it, or a path on the way, is a
 * file; a symbolic link to nothing or a loop of links; a name too long. Read-only: nothing is made.
 * A path that is missing (to be made) passes, as does one whose making only trying tells (`/proc`,
 * a read-only disk, no permission: `makeDirectory` says so).
 */
export const directoryProblem = (dir: string): string | undefined => {
  const target = path.resolve(dir)
  try {
    fs.statSync(target, { throwIfNoEntry: false })
  } catch (e) {
    // Longer than the file system takes as a whole (PATH_MAX), its names short or not.
    if ((e as NodeJS.ErrnoException).code === "ENAMETOOLONG") return `${shown(target)} is too long a path for the file system`
  }
  const parts = target.split(path.sep).filter((p) => p !== "")
  // From the root down: the first path that is not a directory says what stands in the way.
  for (let i = 1, d = path.parse(target).root; i <= parts.length; i++) {
    d = path.join(d, parts[i - 1]!)
    try {
      const st = fs.statSync(d, { throwIfNoEntry: false })
      if (st === undefined) {
        const link = fs.lstatSync(d, { throwIfNoEntry: false })
        return link?.isSymbolicLink() === true ? `${shown(d)} is a symbolic link to ${fs.readlinkSync(d)}, which does not exist` : undefined
      }
      if (!st.isDirectory()) return d === target ? `${shown(d)} is not a directory` : `${shown(d)} is a file, not a directory`
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === "ELOOP") return `${shown(d)} is a loop of symbolic links`
      if (code === "ENAMETOOLONG") return `${shown(target)} is too long a path for the file system`
      // EACCES and the like: making it says so, naming the directory.
      return undefined
    }
  }
  return undefined
}
