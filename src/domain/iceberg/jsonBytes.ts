/**
 * JSON bytes parsed without making one string of them: a JavaScript string holds at most
 * 2^29 - 24 characters (~512 MiB), and a metadata.json keeping a week of one-second snapshots is
 * larger. An object or array longer than `chunk` bytes is split at its members or elements, each
 * piece decoded and parsed by `parseJson` on its own: the same value as `parseJson` of the whole
 * text (ADR-77). Split at 1 MiB, a file is never held twice (bytes and text) on the heap, and a
 * piece `parseJson` must leave to its slow reviver (a `\u` escape) is one snapshot, not the file.
 * Only a single string or number longer than a string holds cannot be read: `JsonTooLarge` names
 * where it is.
 */
import { constants } from "node:buffer"
import { parseJson } from "./json.ts"

/** A piece of the document that no string can hold, by its JSON pointer. */
export class JsonTooLarge extends Error {
  readonly pointer: string
  readonly bytes: number
  constructor(pointer: string, bytes: number) {
    super(`${pointer === "" ? "the document" : pointer} is ${bytes} bytes, more than a JavaScript string holds`)
    this.pointer = pointer
    this.bytes = bytes
  }
}

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const COMMA = 0x2c
const COLON = 0x3a

const isSpace = (b: number | undefined) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09

const notJson = (at: number, what: string) => new SyntaxError(`not JSON at byte ${at}: ${what}`)

/** Past the string whose opening quote is at `i` (its escapes left to JSON.parse). */
const stringEnd = (bytes: Buffer, i: number): number => {
  for (let from = i + 1;;) {
    const quote = bytes.indexOf(QUOTE, from)
    if (quote < 0) throw notJson(i, "unterminated string")
    let backslashes = 0
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return quote + 1
    from = quote + 1
  }
}

/** Past the value starting at `i`: a container's closing bracket, or a literal's last character (checked by JSON.parse). */
const valueEnd = (bytes: Buffer, i: number, end: number): number => {
  const first = bytes[i]
  if (first === QUOTE) return stringEnd(bytes, i)
  if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
    let depth = 0
    for (let j = i; j < end;) {
      const b = bytes[j]
      if (b === QUOTE) {
        j = stringEnd(bytes, j)
        continue
      }
      if (b === OPEN_OBJECT || b === OPEN_ARRAY) depth++
      else if ((b === CLOSE_OBJECT || b === CLOSE_ARRAY) && --depth === 0) return j + 1
      j++
    }
    throw notJson(i, "unterminated object or array")
  }
  let j = i
  while (j < end) {
    const b = bytes[j]
    if (b === COMMA || b === CLOSE_OBJECT || b === CLOSE_ARRAY || isSpace(b)) break
    j++
  }
  if (j === i) throw notJson(i, "a value expected")
  return j
}

const skipSpace = (bytes: Buffer, i: number, end: number) => {
  while (i < end && isSpace(bytes[i])) i++
  return i
}

const escapePointer = (key: string) => key.replace(/~/g, "~0").replace(/\//g, "~1")

interface Limits {
  /** Containers longer than this are split. */
  readonly chunk: number
  /** The longest piece decoded into one string. */
  readonly maxString: number
}

// A piece's byte order mark is kept (and refused by JSON.parse): a default TextDecoder drops one at
// the start of every piece, accepting `[\ufeff1]` that the whole text's parse refuses.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true })

const text = (bytes: Buffer, start: number, end: number, pointer: string, limits: Limits) => {
  if (end - start > limits.maxString) throw new JsonTooLarge(pointer, end - start)
  return decoder.decode(bytes.subarray(start, end))
}

/** The value at bytes [start, end), which hold it and nothing else. */
const parseRange = (bytes: Buffer, start: number, end: number, pointer: string, limits: Limits): unknown => {
  const first = bytes[start]
  if (end - start <= limits.chunk || (first !== OPEN_OBJECT && first !== OPEN_ARRAY)) {
    return parseJson(text(bytes, start, end, pointer, limits))
  }
  const isObject = first === OPEN_OBJECT
  const close = isObject ? CLOSE_OBJECT : CLOSE_ARRAY
  const out: Record<string, unknown> | Array<unknown> = isObject ? {} : []
  let i = skipSpace(bytes, start + 1, end)
  // The closing bracket ends the range (an empty container too): what follows it is not JSON.
  const closed = (at: number) => {
    if (skipSpace(bytes, at + 1, end) !== end) throw notJson(at + 1, "trailing characters")
    return out
  }
  if (bytes[i] === close) return closed(i)
  for (;;) {
    if (isObject) {
      if (bytes[i] !== QUOTE) throw notJson(i, "a member name expected")
      const keyEnd = stringEnd(bytes, i)
      const keyText = text(bytes, i, keyEnd, pointer, limits)
      i = skipSpace(bytes, keyEnd, end)
      if (bytes[i] !== COLON) throw notJson(i, "':' expected")
      const valueStart = skipSpace(bytes, i + 1, end)
      const valueStop = valueEnd(bytes, valueStart, end)
      const key = JSON.parse(keyText) as string
      const at = `${pointer}/${escapePointer(key)}`
      // Parsed under its name, as in the whole document: parseJson reads a number by its key.
      const value = valueStop - valueStart <= limits.chunk || (bytes[valueStart] !== OPEN_OBJECT && bytes[valueStart] !== OPEN_ARRAY)
        ? Object.values(parseJson(`{${keyText}:${text(bytes, valueStart, valueStop, at, limits)}}`) as object)[0]
        : parseRange(bytes, valueStart, valueStop, at, limits)
      // Defined, not assigned: a "__proto__" member is data, as JSON.parse makes it.
      Object.defineProperty(out, key, { value, writable: true, enumerable: true, configurable: true })
      i = valueStop
    } else {
      const valueStop = valueEnd(bytes, i, end)
      const items = out as Array<unknown>
      items.push(parseRange(bytes, i, valueStop, `${pointer}/${items.length}`, limits))
      i = valueStop
    }
    i = skipSpace(bytes, i, end)
    if (bytes[i] === close) return closed(i)
    if (bytes[i] !== COMMA) throw notJson(i, "',' expected")
    i = skipSpace(bytes, i + 1, end)
  }
}

/** The UTF-8 byte order mark, which TextDecoder drops (so the whole text's parse accepted it). */
const BOM = [0xef, 0xbb, 0xbf]

/** `parseJson` of the bytes' text, without ever decoding more than `limits.maxString` bytes into one string. */
export const parseJsonBytes = (
  source: Uint8Array,
  limits: Limits = { chunk: 2 ** 20, maxString: constants.MAX_STRING_LENGTH }
): unknown => {
  const bytes = Buffer.from(source.buffer, source.byteOffset, source.byteLength)
  let start = bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2] ? 3 : 0
  start = skipSpace(bytes, start, bytes.length)
  let end = bytes.length
  while (end > start && isSpace(bytes[end - 1])) end--
  if (start === end) throw notJson(start, "no value")
  return parseRange(bytes, start, end, "", limits)
}

/**
 * The member `name` of the top-level object in the bytes (the last, as JSON.parse keeps), parsed
 * alone; undefined when it has none. The rest is walked, not decoded: its strings and brackets must
 * close and the object must end the bytes, so a file cut short (a crash mid-write) is refused as
 * JSON.parse refuses it, but values other than the member are not checked further. What the orphan
 * check reads of a metadata.json of any size, at about a sixth of the CPU of parsing it (ADR-81).
 */
export const topLevelMember = (source: Uint8Array, name: string, maxString: number = constants.MAX_STRING_LENGTH): unknown => {
  const bytes = Buffer.from(source.buffer, source.byteOffset, source.byteLength)
  const limits: Limits = { chunk: 0, maxString }
  let end = bytes.length
  while (end > 0 && isSpace(bytes[end - 1])) end--
  let i = skipSpace(bytes, bytes[0] === BOM[0] && bytes[1] === BOM[1] && bytes[2] === BOM[2] ? 3 : 0, end)
  if (bytes[i] !== OPEN_OBJECT) throw notJson(i, "an object expected")
  let found: unknown = undefined
  // The object's closing brace ends the bytes: what follows it is not JSON.
  const closed = (at: number) => {
    if (at !== end - 1) throw notJson(at + 1, "trailing characters")
    return found
  }
  i = skipSpace(bytes, i + 1, end)
  if (bytes[i] === CLOSE_OBJECT) return closed(i)
  for (;;) {
    if (bytes[i] !== QUOTE) throw notJson(i, "a member name expected")
    const keyEnd = stringEnd(bytes, i)
    const key = JSON.parse(text(bytes, i, keyEnd, "", limits)) as string
    i = skipSpace(bytes, keyEnd, end)
    if (bytes[i] !== COLON) throw notJson(i, "':' expected")
    const valueStart = skipSpace(bytes, i + 1, end)
    i = valueEnd(bytes, valueStart, end)
    if (key === name) found = parseJson(text(bytes, valueStart, i, `/${escapePointer(key)}`, limits))
    i = skipSpace(bytes, i, end)
    if (bytes[i] === CLOSE_OBJECT) return closed(i)
    if (bytes[i] !== COMMA) throw notJson(i, "',' expected")
    i = skipSpace(bytes, i + 1, end)
  }
}
