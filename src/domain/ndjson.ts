/** One NDJSON line's JSON text, for the replay (HTTP and the replay program). */

/**
 * `JSON.stringify`, with U+2028 and U+2029 as `\u` escapes (the same JSON value). It leaves them
 * raw, valid JSON, but a line break to Python's `splitlines()`, JavaScript's `^`/`$` and editors:
 * a vendor_data value holding one split its event in two lines, neither of them JSON.
 */
export const jsonLine = (value: unknown, replacer?: (key: string, value: unknown) => unknown): string =>
  JSON.stringify(value, replacer).replace(/[\u2028\u2029]/g, (c) => (c === "\u2028" ? "\\u2028" : "\\u2029"))
