/** CSV fields as K2 writes them (RFC 4180), for the HTTP exports and the query program alike. */

const bigintAsText = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v)

/**
 * One field: empty for null, JSON for lists and maps, quoted when it holds a quote, comma or line
 * break, or is an empty string (`""`, which readers such as DuckDB's tell from a null, as JSON does).
 */
export const csvCell = (v: unknown): string => {
  if (v === null || v === undefined) return ""
  const s = typeof v === "object" ? JSON.stringify(v, bigintAsText) : String(v)
  return s === "" || /[",\n\r]/.test(s) ? `"${s.replaceAll("\"", "\"\"")}"` : s
}
