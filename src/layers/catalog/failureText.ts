/**
 * What a driver's or transport's failure says, for an error message. A refused connection to a
 * host with several addresses (`localhost`: ::1 and 127.0.0.1) is Node's AggregateError, whose
 * message is empty: its reasons are in `errors`.
 */

/** An error's own words: its message, else its inner errors' messages, else its code; "" if none. */
const ownText = (error: unknown): string => {
  const e = error as { message?: unknown; code?: unknown; errors?: unknown } | null | undefined
  if (typeof e?.message === "string" && e.message !== "") return e.message
  const inner = Array.isArray(e?.errors) ? [...new Set(e.errors.map(ownText).filter((t) => t !== ""))] : []
  if (inner.length > 0) return inner.join("; ")
  return typeof e?.code === "string" ? e.code : ""
}

/** The failure's text, never empty. */
export const failureText = (error: unknown): string => ownText(error) || (error instanceof Error ? error.name : String(error))

/**
 * The reasons down an error's causes, outermost first ("fetch failed: connect ECONNREFUSED
 * 127.0.0.1:8181"): an HTTP client's own message names only the request.
 */
export const causesText = (error: { readonly message: string; readonly cause?: unknown }): string => {
  const reasons: Array<string> = []
  let cause: unknown = error.cause
  for (let depth = 0; typeof cause === "object" && cause !== null && depth < 8; depth++) {
    const text = ownText(cause)
    if (text !== "" && !reasons.includes(text)) reasons.push(text)
    cause = (cause as { readonly cause?: unknown }).cause
  }
  return reasons.length === 0 ? error.message : reasons.join(": ")
}
