/** Text that is not UTF-8 in the ASX files: the decoder's replacement character, and UTF-16 files. */

/**
 * What the decoder puts for bytes that are not UTF-8. A line holding it is a bad row: read on,
 * a corrupt venue or company name would be published as another one. No field of these files
 * holds U+FFFD itself.
 */
export const REPLACEMENT = "\uFFFD"
export const INVALID_UTF8 = "not valid UTF-8 (holds U+FFFD, the replacement for bytes that are not UTF-8)"

/**
 * Why a file starting with `bytes` cannot be read as UTF-8 text, or undefined. A UTF-16 file (Windows
 * PowerShell's `>`, Excel's "Unicode text") read as UTF-8 made two bad rows of each row, with line
 * numbers that were not the file's.
 */
export const utf16Text = (bytes: Uint8Array): string | undefined => {
  const bom = bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
  return bom ? `UTF-16 text (it starts with the byte order mark ${bytes[0] === 0xff ? "FF FE" : "FE FF"}); save it as UTF-8` : undefined
}
