/**
 * Replay windows: a day's range cut into consecutive time windows of at most `windowRows`
 * rows (a single busier second stays whole), from a per-second histogram. DuckDB sorts one
 * window at a time, so memory is bounded by the window, never by the range.
 */

export interface Window {
  readonly from: number
  readonly to: number
  readonly rows: number
}

/**
 * `counts`: [second start (micros), rows] ascending; returns windows covering [from, to). The
 * first window holds at most `firstRows`, each next one at most twice its predecessor's limit up
 * to `windowRows`: a replay's first events wait only for a small sort, and every later window is
 * sorted while the one before it streams out.
 */
export const cutWindows = (
  counts: ReadonlyArray<readonly [number, number]>,
  windowRows: number,
  from: number,
  to: number,
  firstRows: number = windowRows
): Array<Window> => {
  const out: Array<Window> = []
  let start = from
  let rows = 0
  let limit = Math.min(firstRows, windowRows)
  for (const [second, n] of counts) {
    if (rows > 0 && rows + n > limit) {
      const cut = Math.max(start, second)
      out.push({ from: start, to: cut, rows })
      start = cut
      rows = 0
      limit = Math.min(windowRows, limit * 2)
    }
    rows += n
  }
  if (rows > 0 || out.length === 0) out.push({ from: start, to, rows })
  else out[out.length - 1] = { ...out[out.length - 1]!, to }
  return out
}
