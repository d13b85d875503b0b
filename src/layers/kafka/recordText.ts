/**
 * Keys, header names and header values read as text from a fetch's bytes: short ones shared
 * (interned) by the records of one process, and bytes compared in place with a previous record's.
 */

/** Keys and header names this short are interned; header values this short too. */
export const SHORT_NAME = 32
export const SHORT_VALUE = 8

/** Strings shared by records of one process: keys, header names and short values repeat. */
const interned = new Map<string, string>()
const INTERNED_ENTRIES = 100_000
export const internedText = (buf: Buffer, start: number, end: number): string => {
  const s = buf.toString("utf8", start, end)
  const known = interned.get(s)
  if (known !== undefined) return known
  if (interned.size >= INTERNED_ENTRIES) interned.clear()
  interned.set(s, s)
  return s
}

/** Whether the `n` bytes of `a` at `as` equal those of `b` at `bs`. */
export const sameRange = (a: Buffer, as: number, b: Buffer, bs: number, n: number): boolean => {
  if (a === b && as === bs) return true
  for (let i = 0; i < n; i++) if (a[as + i] !== b[bs + i]) return false
  return true
}
