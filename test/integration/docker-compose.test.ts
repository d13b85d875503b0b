/**
 * docker-compose.yml as the compose CLI reads it (`docker-compose config` needs no engine; these
 * machines have none, so nothing is started): valid, every service the stack promises, Kafka at
 * the version scripts/kafka.sh runs, and Prometheus's compose config scraping the same jobs as the
 * repo's. Without a compose CLI the test fails with the line that installs it.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"

const repo = path.resolve(import.meta.dirname, "../..")
const INSTALL = "apt-get install -y docker-compose"

const SERVICES = [
  "kafka",
  "schema-registry",
  "postgres",
  "rest-catalog",
  "prometheus",
  "grafana",
  "jaeger",
  "kafka-ui",
  "ingest",
  "serve"
]

const composeConfig = () => {
  const which = spawnSync("sh", ["-c", "command -v docker-compose"], { encoding: "utf8" })
  if (which.status !== 0) throw new Error(`docker-compose is not installed; it validates docker-compose.yml. Install it with:\n  ${INSTALL}`)
  // An empty environment for the file's ${VAR:-default}s: the defaults must make a valid file.
  const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: process.env["HOME"] ?? "/tmp" }
  return spawnSync("docker-compose", ["-f", "docker-compose.yml", "config"], { cwd: repo, encoding: "utf8", env })
}

/**
 * The normalized output's services: name -> the service's lines. Both compose CLIs print
 * `services:` at column 0, each service at two spaces, its keys at four.
 */
const servicesOf = (yaml: string) => {
  const out = new Map<string, Array<string>>()
  let inServices = false
  let current: Array<string> | undefined
  for (const line of yaml.split("\n")) {
    if (/^\S/.test(line)) {
      inServices = line === "services:"
      current = undefined
      continue
    }
    if (!inServices) continue
    const name = /^ {2}([A-Za-z0-9._-]+):$/.exec(line)
    if (name !== null) out.set(name[1]!, (current = []))
    else current?.push(line)
  }
  return out
}

const keyOf = (lines: ReadonlyArray<string>, key: string) =>
  lines.map((l) => new RegExp(`^ {4}${key}: (.+)$`).exec(l)?.[1]).find((v) => v !== undefined)

/** job_name -> its service label, from a scrape config (the repo's files are one label per job). */
const jobs = (file: string) => {
  const text = fs.readFileSync(file, "utf8")
  const out = new Map<string, string>()
  for (const block of text.split(/^ {2}- job_name: /m).slice(1)) {
    out.set(block.split("\n")[0]!.trim(), /^ +service: (\S+)$/m.exec(block)?.[1] ?? "")
  }
  return out
}

describe("docker-compose.yml", () => {
  const result = composeConfig()
  const output = `${result.stdout}${result.stderr}`
  const services = servicesOf(result.stdout)

  it("is accepted by `docker-compose config`", () => {
    assert.strictEqual(result.status, 0, output)
  })

  it("has every service of the stack", () => {
    assert.deepStrictEqual([...SERVICES].sort(), [...services.keys()].filter((s) => SERVICES.includes(s)).sort(), output)
  })

  it("runs the Kafka version of scripts/kafka.sh", () => {
    const pom = fs.readFileSync(path.join(repo, "scripts/kafka/pom.xml"), "utf8")
    const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1]
    assert.isDefined(version, "scripts/kafka/pom.xml has no <kafka.version>")
    assert.strictEqual(keyOf(services.get("kafka") ?? [], "image"), `apache/kafka:${version}`)
  })

  it("keeps Kafka's log dirs in its volume (the image's default is /tmp/kraft-combined-logs, lost with the container)", () => {
    const lines = services.get("kafka") ?? []
    const logDirs = lines.map((l) => /^ {6}KAFKA_LOG_DIRS: (.+)$/.exec(l)?.[1]).find((v) => v !== undefined)
    assert.isDefined(logDirs, "kafka sets no KAFKA_LOG_DIRS")
    assert.include(lines, `    - kafka-data:${logDirs}:rw`)
  })

  it("starts ingest once the services it asks at start answer: Kafka, the schema registry, the REST catalog", () => {
    const ingest = services.get("ingest") ?? []
    for (const name of ["kafka", "schema-registry", "rest-catalog"]) {
      // `depends_on:` then `      <name>:` then `        condition: service_healthy`.
      const at = ingest.indexOf(`      ${name}:`)
      assert.isAbove(at, -1, `ingest does not depend on ${name}`)
      assert.strictEqual(ingest[at + 1]?.trim(), "condition: service_healthy", `ingest does not wait for ${name} to be healthy`)
      assert.include(services.get(name) ?? [], "    healthcheck:", `${name} has no healthcheck`)
    }
  })

  it("builds ingest, serve and the REST catalog from Dockerfiles that exist", () => {
    for (const name of ["ingest", "serve", "rest-catalog"]) {
      const lines = services.get(name) ?? []
      const context = lines.map((l) => /^ {6}context: (.+)$/.exec(l)?.[1]).find((v) => v !== undefined)
      assert.isDefined(context, `${name} has no build context`)
      const dockerfile = lines.map((l) => /^ {6}dockerfile: (.+)$/.exec(l)?.[1]).find((v) => v !== undefined) ?? "Dockerfile"
      assert.isTrue(fs.existsSync(path.resolve(context!, dockerfile)), `${name}: ${dockerfile} not found in ${context}`)
    }
  })

  it("scrapes the K2 containers with the repo's jobs, and promtool accepts that config", () => {
    const compose = path.join(repo, "ops/prometheus/prometheus.compose.yml")
    assert.include(keyOf(services.get("prometheus") ?? [], "image") ?? "", "prom/prometheus")
    assert.include(services.get("prometheus")?.join("\n") ?? "", `${compose}:/etc/prometheus/prometheus.yml`)
    assert.deepStrictEqual([...jobs(compose)], [...jobs(path.join(repo, "ops/prometheus/prometheus.yml"))])
    const text = fs.readFileSync(compose, "utf8")
    assert.include(text, "\"ingest:9464\"")
    assert.include(text, "\"serve:8080\"")
    const which = spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" })
    if (which.status !== 0) throw new Error("promtool is not installed. Install it with:\n  apt-get install -y prometheus")
    const check = spawnSync("promtool", ["check", "config", compose], { encoding: "utf8" })
    assert.strictEqual(check.status, 0, `${check.stdout}${check.stderr}`)
  })
})
