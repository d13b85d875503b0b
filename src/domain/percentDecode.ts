/** `decodeURIComponent`, or undefined for text with a malformed %-escape (which it throws on). */
export const percentDecoded = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}
