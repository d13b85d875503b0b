/** The lines of an opened data file, read block by block in bounded memory. */
import type * as fs from "node:fs/promises"
import { LINE_BREAK } from "../../domain/feeds/asx.ts"
import { REPLACEMENT } from "./asxEncoding.ts"
import { guard } from "./asxIoErrors.ts"

const hasLoneCr = (text: string): boolean => {
  for (let i = text.indexOf("\r"); i !== -1; i = text.indexOf("\r", i + 1)) {
    if (text.charCodeAt(i + 1) !== 10) return true
  }
  return false
}

/** Index of the first CR or LF of `text`, or -1. */
const firstBreak = (text: string): number => {
  const lf = text.indexOf("\n")
  const cr = text.indexOf("\r")
  return lf === -1 ? cr : cr === -1 ? lf : Math.min(lf, cr)
}

/**
 * Lines of a file, block by block: `[firstLineNo, lines, replaced]`, lines without their
 * terminator; `replaced` when some line may hold U+FFFD (one scan a block, not one a line). A
 * line longer than `maxLineChars` comes as its first `maxLineChars + 1` characters and the rest
 * is skipped as it is read: carried whole, a line without breaks (a binary or corrupt file) was
 * re-copied and re-scanned with every block (quadratic: 82 s for 64 MB) and could outgrow memory.
 */
export async function* blocksOfLines(
  file: string,
  handle: fs.FileHandle,
  blockBytes: number,
  maxLineChars: number
): AsyncGenerator<readonly [number, Array<string>, boolean]> {
  try {
    const buffer = Buffer.allocUnsafe(blockBytes)
    const decoder = new TextDecoder("utf-8")
    let carry = ""
    let lineNo = 1
    // Inside an overlong line already handed over: drop text up to its line break.
    let skipping = false
    for (;;) {
      const { bytesRead } = await guard(file, () => handle.read(buffer, 0, blockBytes, null))
      const eof = bytesRead === 0
      let text = carry + (eof ? decoder.decode() : decoder.decode(buffer.subarray(0, bytesRead), { stream: true }))
      // A CR ending the block may be the first half of a CRLF: decide with the next block.
      const tail = !eof && text.charCodeAt(text.length - 1) === 13 ? "\r" : ""
      if (tail !== "") text = text.slice(0, -1)
      if (skipping) {
        const end = firstBreak(text)
        if (end === -1) {
          if (eof) return
          carry = tail
          continue
        }
        skipping = false
        // A CR here is never the text's last character (that one went to `tail`), so CRLF is whole.
        text = text.slice(text.charCodeAt(end) === 13 && text.charCodeAt(end + 1) === 10 ? end + 2 : end + 1)
      }
      const replaced = text.includes(REPLACEMENT)
      // A lone CR ends a line too (else a CR-only file is one huge bad row); the parsers strip
      // the CR of CRLF, so the common case keeps the fast split.
      const lines = hasLoneCr(text) ? text.split(LINE_BREAK) : text.split("\n")
      carry = eof ? "" : lines.pop()!
      if (carry.length > maxLineChars) {
        lines.push(carry.slice(0, maxLineChars + 1))
        carry = ""
        skipping = true
      }
      carry += tail
      if (eof && lines.length > 0 && lines[lines.length - 1] === "") lines.pop()
      if (lines.length > 0) {
        yield [lineNo, lines, replaced] as const
        lineNo += lines.length
      }
      if (eof) return
    }
  } finally {
    await handle.close().catch(() => undefined)
  }
}
