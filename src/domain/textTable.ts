/**
 * The query program's aligned text table: what a terminal shows of a cell, and how wide it is.
 * Values come from feeds (symbols, conditions, vendor_data), so a cell must not drive the terminal.
 */

/**
 * C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional controls: an
 * ESC sequence in a symbol moved the cursor, recoloured or retitled the terminal, a CR or LF broke
 * the row, and an RTL override reordered the columns after it. Each is shown as its `\u` escape.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

export const neutralise = (s: string): string =>
  s.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** East Asian wide and fullwidth characters, and emoji presentation: two terminal columns. */
const WIDE = /[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[\u{20000}-\u{3fffd}]|\p{Extended_Pictographic}\ufe0f|\p{Emoji_Presentation}/u

const segmenter = new Intl.Segmenter()

/**
 * Terminal columns of a neutralised text: one per grapheme (combining marks and joiners add none),
 * two for a wide one. `String.length` counted UTF-16 units: a combining accent or an emoji's
 * surrogates widened a column, a CJK name narrowed it, and the columns after it went out of line.
 */
export const displayWidth = (s: string): number => {
  // Printable ASCII, the common case, is one column a character.
  if (/^[\x20-\x7e]*$/.test(s)) return s.length
  let width = 0
  for (const { segment } of segmenter.segment(s)) width += WIDE.test(segment) ? 2 : /^\p{Cf}+$/u.test(segment) ? 0 : 1
  return width
}

const pad = (s: string, width: number) => s + " ".repeat(Math.max(0, width - displayWidth(s)))

/** The table's lines: header, rule, then one line a row, cells neutralised and padded to their column's width. */
export const renderTable = (columns: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const header = columns.map(neutralise)
  const text = rows.map((r) => r.map(neutralise))
  // A loop, not Math.max(...cells): spreading some 120k cells overflows the stack.
  const widths = header.map(displayWidth)
  for (const t of text) t.forEach((s, i) => (widths[i] = Math.max(widths[i]!, displayWidth(s))))
  const line = (cells: ReadonlyArray<string>) => cells.map((s, i) => pad(s, widths[i]!)).join("  ").trimEnd()
  let out = `${line(header)}\n${line(widths.map((w) => "-".repeat(w)))}\n`
  for (const t of text) out += `${line(t)}\n`
  return out
}
