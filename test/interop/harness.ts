/**
 * Drives the Apache Iceberg Java harness (test/interop/src/main/java/k2/interop) from the
 * TypeScript tests: builds it, keeps one warm JVM per test scope (`Interop serve`, since a
 * JVM start costs seconds) and parses its output, one JSON object a line.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { Context, Effect, Layer, Schema, Semaphore } from "effect"

const HARNESS_DIR = path.dirname(fileURLToPath(import.meta.url))

/** A cold Maven build downloads Iceberg and Hadoop: give it minutes. A command takes seconds. */
const BUILD_TIMEOUT_MS = 10 * 60_000
const COMMAND_TIMEOUT_MS = 120_000

/** C1 only and the serial collector: these runs are short, so start-up is what counts. */
const JVM_FLAGS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]

const CLASSPATH = [path.join(HARNESS_DIR, "target", "classes"), path.join(HARNESS_DIR, "target", "lib", "*")].join(
  path.delimiter
)

/** `bash build.sh`: a no-op when the harness is newer than its sources. */
export const buildHarness = async (): Promise<void> => {
  await promisify(execFile)("bash", [path.join(HARNESS_DIR, "build.sh")], {
    timeout: BUILD_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024
  })
}

/** Which table the harness opens, through which catalog. */
export interface HarnessTarget {
  /** JDBC URI of the SQL catalog database (JdbcCatalog), or the REST catalog's http(s) URI (RESTCatalog). */
  readonly uri: string
  /** The SQL catalog's warehouse directory; a REST server places tables itself. */
  readonly warehouse?: string
  /** `namespace.table` */
  readonly table: string
  /** `catalog_name` in the SQL catalog tables; a REST client's name for its catalog. */
  readonly catalog: string
}

/** One harness command with its options (`--key value`) and `--property k=v` entries. */
export interface Step {
  readonly command: "create" | "append" | "read" | "plan" | "files" | "manifests" | "update-spec" | "update-schema" | "add-files" | "snapshots" | "schema" | "expire" | "tag" | "refs"
  readonly options?: Readonly<Record<string, string>>
  readonly properties?: ReadonlyArray<string>
}

export type Json = Record<string, unknown>

export class InteropFailed extends Schema.TaggedError<InteropFailed>()("InteropFailed", {
  command: Schema.String,
  /** 1 error, 2 usage, 3 lost commit race (CommitFailedException); null when the JVM died or hung. */
  exitCode: Schema.NullOr(Schema.Number),
  detail: Schema.String
}) {
  get isCommitConflict() {
    return this.exitCode === 3
  }
  override get message() {
    return `Iceberg Java \`${this.command}\` failed (exit ${this.exitCode}):\n${this.detail.slice(-4000)}`
  }
}

const describeStep = (target: HarnessTarget, step: Step) =>
  [step.command, `--table ${target.table} --catalog ${target.catalog}`, ...Object.entries(step.options ?? {}).map(([k, v]) => `--${k} ${v}`)]
    .join(" ")

interface Pending {
  readonly lines: Array<Json>
  readonly settle: (outcome: { readonly lines: Array<Json> } | { readonly exitCode: number | null; readonly detail: string }) => void
}

/** `Interop serve`: requests on stdin, answers on stdout, each closed by a `{"$done": ...}` line. */
const startServer = Effect.acquireRelease(
  Effect.sync(() => {
    const child: ChildProcessWithoutNullStreams = spawn(
      "java",
      [...JVM_FLAGS, "-cp", CLASSPATH, "k2.interop.Interop", "serve"],
      { stdio: ["pipe", "pipe", "pipe"] }
    )
    let stderr = ""
    let pending: Pending | null = null
    let exited: string | null = null
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-16_000)
    })
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      if (line.trim() === "" || pending === null) return
      let json: Json
      try {
        json = JSON.parse(line) as Json
      } catch {
        json = { $done: true, exit: null, error: `not a JSON line on stdout: ${line.slice(0, 500)}` }
      }
      if (json["$done"] !== true) return void pending.lines.push(json)
      const done = pending
      pending = null
      done.settle(
        json["exit"] === 0 ? { lines: done.lines } : { exitCode: json["exit"] as number | null, detail: String(json["error"]) }
      )
    })
    const died = (why: string) => {
      exited = `${why}\n${stderr}`
      pending?.settle({ exitCode: null, detail: exited })
      pending = null
    }
    child.on("error", (e) => died(`could not run java: ${e.message}`))
    child.on("exit", (code, signal) => died(`the JVM exited (code ${code}, signal ${signal})`))

    const request = (target: HarnessTarget, step: Step) =>
      new Promise<{ readonly lines: Array<Json> } | { readonly exitCode: number | null; readonly detail: string }>(
        (resolve) => {
          if (exited !== null) return resolve({ exitCode: null, detail: exited })
          const timer = setTimeout(() => {
            child.kill("SIGKILL") // its state is unknown now: no later request may use it
            resolve({ exitCode: null, detail: `no answer in ${COMMAND_TIMEOUT_MS} ms\n${stderr}` })
          }, COMMAND_TIMEOUT_MS)
          pending = {
            lines: [],
            settle: (outcome) => {
              clearTimeout(timer)
              resolve(outcome)
            }
          }
          const options = {
            uri: target.uri,
            ...(target.warehouse === undefined ? {} : { warehouse: target.warehouse }),
            table: target.table,
            catalog: target.catalog,
            ...step.options
          }
          child.stdin.write(`${JSON.stringify({ command: step.command, options, properties: step.properties ?? [] })}\n`)
        }
      )
    return { child, request, isRunning: () => exited === null }
  }),
  ({ child, isRunning }) =>
    Effect.promise(() =>
      new Promise<void>((resolve) => {
        if (!isRunning()) return resolve()
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
        child.once("exit", () => {
          clearTimeout(timer)
          resolve()
        })
        child.stdin.end() // EOF: serve returns and the JVM exits
      })
    )
)

/** Apache Iceberg Java, one warm JVM: commands run one at a time, in order. */
export class IcebergJava extends Context.Service<IcebergJava, {
  /** The command's output lines. */
  run(target: HarnessTarget, step: Step): Effect.Effect<Array<Json>, InteropFailed>
}>()("test/interop/IcebergJava") {
  static readonly layer = Layer.effect(IcebergJava)(Effect.gen(function*() {
    const server = yield* startServer
    const oneAtATime = yield* Semaphore.make(1)
    return IcebergJava.of({
      run: (target, step) =>
        Effect.promise(() => server.request(target, step)).pipe(
          Effect.flatMap((outcome) =>
            "lines" in outcome
              ? Effect.succeed(outcome.lines)
              : Effect.fail(new InteropFailed({ command: describeStep(target, step), ...outcome }))
          ),
          oneAtATime.withPermits(1)
        )
    })
  }))
}

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

/** A location URI (`file:///x`, or Hadoop's `file:/x`) or bare path, as a plain local path. */
export const normalizePath = (location: string): string =>
  location.startsWith("file:") ? fileURLToPath(location) : path.resolve(location)
