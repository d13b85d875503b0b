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

/** A file `variable` names, read now; the failure says why, naming both. */
export const readNamedFile = (variable: string, file: string, read: (file: string) => string = (f) => fs.readFileSync(f, "utf8")): Result.Result<string, string> => {
  try {
    return Result.succeed(read(file))
  } catch (e) {
    const code = (e as { readonly code?: unknown }).code
    return Result.fail(`${variable}: cannot read ${file}${typeof code === "string" ? ` (${code})` : ""}`)
  }
}

/** A PEM file of `kind` that `variable` names, read now. */
export const readPemFile = (variable: string, file: string, kind: PemKind, read?: (file: string) => string): Result.Result<string, string> =>
  Result.flatMap(readNamedFile(variable, file, read), (text) => BEGIN[kind].test(text) ? Result.succeed(text) : Result.fail(`${variable}: ${file} holds no PEM ${kind}`))
