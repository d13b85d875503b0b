/**
 * TLS and SASL of the Kafka clients, from the environment alone (ADR-54): a deployment's property,
 * as the REST catalog's credential is, and a password on the command line is in `ps` for every
 * user to read. Read and checked with the other options, before anything is touched: a mistake
 * is a usage error (exit 2) naming the variable, never showing the password or a file's content.
 */
import { Redacted, Result } from "effect"
import { UsageError } from "./common.ts"
import { readNamedFile, readPemFile, readSettingFile } from "../../layers/pemFiles.ts"
import { type KafkaSecurity, type KafkaTls, SASL_MECHANISMS, type SaslMechanism } from "../../layers/kafka/security.ts"

const KAFKA_SECURITY_VARIABLES = {
  tls: "K2_KAFKA_TLS",
  ca: "K2_KAFKA_TLS_CA_FILE",
  cert: "K2_KAFKA_TLS_CERT_FILE",
  key: "K2_KAFKA_TLS_KEY_FILE",
  mechanism: "K2_KAFKA_SASL_MECHANISM",
  username: "K2_KAFKA_SASL_USERNAME",
  password: "K2_KAFKA_SASL_PASSWORD",
  passwordFile: "K2_KAFKA_SASL_PASSWORD_FILE"
} as const

/** What --help lists among the settings read from the environment alone; `mode`: the modes that read them. */
export const kafkaSecurityEnvironment = (mode?: string) =>
  "K2_KAFKA_TLS, K2_KAFKA_TLS_CA_FILE, K2_KAFKA_TLS_CERT_FILE, K2_KAFKA_TLS_KEY_FILE, K2_KAFKA_SASL_MECHANISM, " +
  `K2_KAFKA_SASL_USERNAME, K2_KAFKA_SASL_PASSWORD or K2_KAFKA_SASL_PASSWORD_FILE (${mode === undefined ? "" : `${mode}: `}a secured cluster, docs/kafka.md)`

const ON = new Set(["on", "true", "1", "yes"])
const OFF = new Set(["off", "false", "0", "no"])

const refuse = (message: string): never => {
  throw new UsageError({ message })
}

type Env = Readonly<Record<string, string | undefined>>

/** A variable's value; empty reads as unset, as Effect's config reads it for the other settings. */
const valueOf = (env: Env, name: string): string | undefined => {
  const v = env[name]?.trim()
  return v === undefined || v === "" ? undefined : v
}

/** What a settings file read gives, or the refusal naming the variable. */
const orRefuse = (read: Result.Result<string, string>): string => Result.isSuccess(read) ? read.success : refuse(read.failure)

const tlsFrom = (env: Env, read: (file: string) => string): KafkaTls | undefined => {
  const v = KAFKA_SECURITY_VARIABLES
  const flag = valueOf(env, v.tls)?.toLowerCase()
  if (flag !== undefined && !ON.has(flag) && !OFF.has(flag)) refuse(`${v.tls}: "${flag}" is not on or off`)
  const on = flag !== undefined && ON.has(flag)
  const [caFile, certFile, keyFile] = [valueOf(env, v.ca), valueOf(env, v.cert), valueOf(env, v.key)]
  const given = [[v.ca, caFile], [v.cert, certFile], [v.key, keyFile]].filter(([, f]) => f !== undefined).map(([n]) => n)
  // Else the CA or the client certificate would be ignored, and the connection go unencrypted.
  if (!on) return given.length === 0 ? undefined : refuse(`${given.join(", ")}: set ${v.tls}=on too (TLS is off)`)
  if ((certFile === undefined) !== (keyFile === undefined)) {
    refuse(`${certFile === undefined ? v.key : v.cert} without ${certFile === undefined ? v.cert : v.key}: a client certificate needs both`)
  }
  return {
    ...(caFile === undefined ? {} : { ca: orRefuse(readPemFile(v.ca, caFile, "certificate", read)), caFile }),
    ...(certFile === undefined ? {} : { cert: orRefuse(readPemFile(v.cert, certFile, "certificate", read)) }),
    ...(keyFile === undefined ? {} : { key: Redacted.make(orRefuse(readPemFile(v.key, keyFile, "private key", read))) })
  }
}

const saslFrom = (env: Env, read: (file: string) => string) => {
  const v = KAFKA_SECURITY_VARIABLES
  const mechanism = valueOf(env, v.mechanism)?.toLowerCase()
  const username = valueOf(env, v.username)
  // Not trimmed: a password may hold blanks; only a file's final line break goes.
  const password = env[v.password] === "" ? undefined : env[v.password]
  const passwordFile = valueOf(env, v.passwordFile)
  if (mechanism === undefined) {
    const given = [[v.username, username], [v.password, password], [v.passwordFile, passwordFile]].filter(([, x]) => x !== undefined).map(([n]) => n)
    return given.length === 0 ? undefined : refuse(`${given.join(", ")}: set ${v.mechanism} too (${SASL_MECHANISMS.join(" | ")})`)
  }
  if (!(SASL_MECHANISMS as ReadonlyArray<string>).includes(mechanism)) {
    refuse(`${v.mechanism}: "${mechanism}" is not one of ${SASL_MECHANISMS.join(" | ")}`)
  }
  if (username === undefined) refuse(`${v.mechanism} ${mechanism} needs ${v.username}`)
  if (password !== undefined && passwordFile !== undefined) refuse(`give ${v.password} or ${v.passwordFile}, not both`)
  const secret = password ?? (passwordFile === undefined ? undefined : orRefuse(readNamedFile(v.passwordFile, passwordFile, read)).replace(/\r?\n$/, ""))
  if (secret === undefined || secret === "") {
    refuse(`${v.mechanism} ${mechanism} needs a password: ${v.password}, or ${v.passwordFile} naming a file that holds it`)
  }
  return { mechanism: mechanism as SaslMechanism, username: username!, password: Redacted.make(secret!) }
}

/**
 * The clients' TLS and SASL from `env`: undefined for PLAINTEXT. A setting that is wrong, or would
 * be ignored (a CA file with TLS off, a username without a mechanism), is a UsageError.
 */
export const kafkaSecurityFrom = (
  env: Env = process.env,
  read: (file: string) => string = readSettingFile
): KafkaSecurity | undefined => {
  const tls = tlsFrom(env, read)
  const sasl = saslFrom(env, read)
  return tls === undefined && sasl === undefined ? undefined : { ...(tls === undefined ? {} : { tls }), ...(sasl === undefined ? {} : { sasl }) }
}

/** How the clients connect, for the line a program starts with: never a secret. */
export const describeSecurity = (security: KafkaSecurity | undefined): string =>
  security === undefined
    ? "PLAINTEXT"
    : `${security.tls === undefined ? "SASL_PLAINTEXT" : security.sasl === undefined ? "TLS" : "SASL_SSL"}` +
      (security.sasl === undefined ? "" : ` as ${security.sasl.username} (${security.sasl.mechanism.toUpperCase()})`)
