/**
 * The PEM files a setting names (a CA, a certificate, a private key), read at start so that a
 * mistake stops the program naming the variable, never showing the file's content (a key's is a
 * secret). Used by the Kafka clients' TLS (ADR-54) and HTTPS served directly (ADR-58).
 */
import * as fs from "node:fs"
import { Result } from "effect"

export type PemKind = "certificate" | "private key"

const BEGIN: Record<PemKind, RegExp> = {
  certificate: /-----BEGIN CERTIFICATE-----/,
  "private key": /-----BEGIN [A-Z ]*PRIVATE KEY-----/
}

/** The most a PEM or password file a setting names may hold: a certificate chain is a few KB. */
const SETTING_FILE_MAX_BYTES = 1024 * 1024

/**
 * A file a setting names, read whole up to `SETTING_FILE_MAX_BYTES` (EFBIG past it). A pipe
 * (`<(vault read ...)`) reads to its end; a file without one (`/dev/zero`) read whole held the
 * start for ever.
 */
export const readSettingFile = (file: string): string => {
  const fd = fs.openSync(file, "r")
  try {
    const buffer = Buffer.alloc(SETTING_FILE_MAX_BYTES + 1)
    let length = 0
    for (let n = -1; n !== 0 && length < buffer.length;) {
      n = fs.readSync(fd, buffer, length, buffer.length - length, null)
      length += n
    }
    if (length > SETTING_FILE_MAX_BYTES) throw Object.assign(new Error(`${file} holds more than ${SETTING_FILE_MAX_BYTES} bytes`), { code: "EFBIG" })
    return buffer.toString("utf8", 0, length)
  } finally {
    fs.closeSync(fd)
  }
}

/** A file `variable` names, read now; the failure says why, naming both. */
export const readNamedFile = (variable: string, file: string, read: (file: string) => string = readSettingFile): Result.Result<string, string> => {
  try {
    return Result.succeed(read(file))
  } catch (e) {
    const code = (e as { readonly code?: unknown }).code
    if (code === "EFBIG") return Result.fail(`${variable}: ${file} holds more than ${SETTING_FILE_MAX_BYTES / 1024 / 1024} MiB, more than a PEM or password file`)
    return Result.fail(`${variable}: cannot read ${file}${typeof code === "string" ? ` (${code})` : ""}`)
  }
}

/** A PEM file of `kind` that `variable` names, read now. */
export const readPemFile = (variable: string, file: string, kind: PemKind, read?: (file: string) => string): Result.Result<string, string> =>
  Result.flatMap(readNamedFile(variable, file, read), (text) => BEGIN[kind].test(text) ? Result.succeed(text) : Result.fail(`${variable}: ${file} holds no PEM ${kind}`))
