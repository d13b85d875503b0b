/**
 * Drives the Apache Iceberg Java harness (test/interop/src/main/java/k2/interop) from the
 * TypeScript tests: builds it, runs one command or a batch of commands per JVM, and parses
 * its output (one JSON object per line).
 */
import { execFile } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { Effect, Schema } from "effect"

const exec = promisify(execFile)

export const HARNESS_DIR = path.dirname(fileURLToPath(import.meta.url))

/** A cold Maven build downloads Iceberg and Hadoop: give it minutes. A JVM run takes seconds. */
const BUILD_TIMEOUT_MS = 10 * 60_000
const RUN_TIMEOUT_MS = 120_000

/** Client VM-style JIT and the serial collector: these runs are short, so start-up is what counts. */
const JVM_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto"]

/** `bash build.sh`: a no-op when the harness is newer than its sources. */
export const buildHarness = async (): Promise<void> => {
  await exec("bash", [path.join(HARNESS_DIR, "build.sh")], { timeout: BUILD_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 })
}

/** Which table the harness opens, through which catalog. */
export interface HarnessTarget {
  /** JDBC URI of the SQL catalog database. */
  readonly uri: string
  readonly warehouse: string
  /** `namespace.table` */
  readonly table: string
  /** `catalog_name` in the catalog tables. */
  readonly catalog: string
}

export class InteropFailed extends Schema.TaggedError<InteropFailed>()("InteropFailed", {
  command: Schema.String,
  exitCode: Schema.NullOr(Schema.Number),
  stderr: Schema.String
}) {
  /** Exit 3: Iceberg's CommitFailedException (another writer won the race). */
  get isCommitConflict() {
    return this.exitCode === 3
  }
  override get message() {
    return `Iceberg Java harness \`${this.command}\` failed (exit ${this.exitCode}):\n${this.stderr.slice(-4000)}`
  }
}

export type Json = Record<string, unknown>

/** One harness command with its options (`--key value`) and `--property k=v` entries. */
export interface Step {
  readonly command: "create" | "append" | "read" | "plan" | "snapshots" | "schema"
  readonly options?: Readonly<Record<string, string>>
  readonly properties?: ReadonlyArray<string>
}

const classpath = [path.join(HARNESS_DIR, "target", "classes"), path.join(HARNESS_DIR, "target", "lib", "*")].join(
  path.delimiter
)

const parseLines = (stdout: string): Array<Json> =>
  stdout.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as Json)

const java = (target: HarnessTarget, command: string, args: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: () =>
      exec("java", [
        ...JVM_FLAGS,
        "-cp",
        classpath,
        "k2.interop.Interop",
        command,
        "--uri",
        target.uri,
        "--warehouse",
        target.warehouse,
        "--table",
        target.table,
        "--catalog",
        target.catalog,
        ...args
      ], { timeout: RUN_TIMEOUT_MS, maxBuffer: 512 * 1024 * 1024 }),
    catch: (cause) => {
      const err = cause as { code?: unknown; stderr?: string; message?: string }
      return new InteropFailed({
        command: [command, ...args].join(" ").slice(0, 500),
        exitCode: typeof err.code === "number" ? err.code : null,
        stderr: err.stderr || err.message || String(cause)
      })
    }
  }).pipe(Effect.map(({ stdout }) => parseLines(stdout)))

const stepArgs = (step: Step) => [
  ...Object.entries(step.options ?? {}).flatMap(([k, v]) => [`--${k}`, v]),
  ...(step.properties ?? []).flatMap((p) => ["--property", p])
]

/** One command in its own JVM: its output lines. */
export const run = (target: HarnessTarget, step: Step) => java(target, step.command, stepArgs(step))

/** Several commands in one JVM, in order (each on a freshly loaded table): the output lines of each. */
export const batch = (target: HarnessTarget, steps: ReadonlyArray<Step>) =>
  java(target, "batch", ["--steps", JSON.stringify(steps)]).pipe(
    Effect.map((lines) => {
      const out = steps.map((): Array<Json> => [])
      for (const line of lines) out[line["step"] as number]!.push(line["out"] as Json)
      return out
    })
  )

/** JDBC URI for a `postgresql://user[:password]@host:port/db` URL. */
export const jdbcPostgres = (url: string): string => {
  const u = new URL(url)
  const params = new URLSearchParams()
  if (u.username) params.set("user", decodeURIComponent(u.username))
  if (u.password) params.set("password", decodeURIComponent(u.password))
  const query = params.toString()
  return `jdbc:postgresql://${u.host}${u.pathname}${query ? `?${query}` : ""}`
}

export const jdbcSqlite = (file: string): string => `jdbc:sqlite:${file}`

/** A location URI (`file:///x`, `file:/x`) or bare path, as a plain local path. */
export const normalizePath = (location: string): string =>
  location.startsWith("file:") ? fileURLToPath(location) : path.resolve(location)
