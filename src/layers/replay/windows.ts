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

/** `counts`: [second start (micros), rows] ascending; returns windows covering [from, to). */
export const cutWindows = (
  counts: ReadonlyArray<readonly [number, number]>,
  windowRows: number,
  from: number,
  to: number
): Array<Window> => {
  const out: Array<Window> = []
  let start = from
  let rows = 0
  for (const [second, n] of counts) {
    if (rows > 0 && rows + n > windowRows) {
      const cut = Math.max(start, second)
      out.push({ from: start, to: cut, rows })
      start = cut
      rows = 0
    }
    rows += n
  }
  if (rows > 0 || out.length === 0) out.push({ from: start, to, rows })
  else out[out.length - 1] = { ...out[out.length - 1]!, to }
  return out
}
