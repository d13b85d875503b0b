/**
 * What makes a value unsendable in an HTTP header, or undefined: fetch refuses a line break, a NUL
 * or a character beyond Latin-1 (surrounding whitespace it trims), on every request, and its error
 * for a line break echoes the whole value, a token with it. Said without the value.
 */
export const unsendableHeaderValue = (value: string): string | undefined => {
  const inner = value.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "")
  for (let i = 0; i < inner.length; i++) {
    const code = inner.charCodeAt(i)
    if (code === 0 || code === 10 || code === 13 || code > 255) {
      const what = code === 0 ? "a NUL" : code > 255 ? `a character beyond Latin-1 (U+${code.toString(16).toUpperCase().padStart(4, "0")})` : "a line break"
      return `${what} at character ${i + 1} of ${inner.length}`
    }
  }
  return undefined
}
