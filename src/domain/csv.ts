/** CSV fields as K2 writes them (RFC 4180), for the HTTP exports and the query program alike. */

const bigintAsText = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v)

/** One field: empty for null, JSON for lists and maps, quoted when it holds a quote, comma or line break. */
export const csvCell = (v: unknown): string => {
  const s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v, bigintAsText) : String(v)
  return /[",\n\r]/.test(s) ? `"${s.replaceAll("\"", "\"\"")}"` : s
}
