/**
 * The Kafka clients' TLS and SASL settings (K2_KAFKA_TLS*, K2_KAFKA_SASL*, ADR-54): read from the
 * environment, checked before anything starts (exit 2 naming the variable), the password never
 * shown: not in a refusal, not in --help, not in the line a run starts with.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { UsageError } from "../../src/programs/cli/common.ts"
import { describeSecurity, kafkaSecurityFrom } from "../../src/programs/cli/kafkaSecurity.ts"
import { spawnProgram } from "../support/programs.ts"
import { tempWarehouse } from "../support/warehouse.ts"

const PASSWORD = "pa55-w0rd secret"
const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
const KEY = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"

const files: Record<string, string> = { "/ca.pem": CA, "/client.pem": CA, "/client.key": KEY, "/password": `${PASSWORD}\n`, "/empty.pem": "hello" }
const read = (file: string) => {
  const text = files[file]
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${file}`), { code: "ENOENT" })
  return text
}

/** The usage error `env` is refused with. */
const refusal = (env: Record<string, string>): string => {
  try {
    kafkaSecurityFrom(env, read)
  } catch (e) {
    assert.instanceOf(e, UsageError)
    return (e as UsageError).message
  }
  return assert.fail(`accepted: ${JSON.stringify(env)}`)
}

const sasl = { K2_KAFKA_SASL_MECHANISM: "scram-sha-512", K2_KAFKA_SASL_USERNAME: "alice", K2_KAFKA_SASL_PASSWORD: PASSWORD }

describe("kafkaSecurityFrom", () => {
  it("nothing set (or set empty) is PLAINTEXT", () => {
    assert.isUndefined(kafkaSecurityFrom({}, read))
    assert.isUndefined(kafkaSecurityFrom({ K2_KAFKA_TLS: "off", K2_KAFKA_SASL_MECHANISM: "", K2_KAFKA_TLS_CA_FILE: "" }, read))
    assert.strictEqual(describeSecurity(undefined), "PLAINTEXT")
  })

  it("TLS with a CA file and a client certificate, SASL with a password from the variable or a file", () => {
    const s = kafkaSecurityFrom({
      K2_KAFKA_TLS: "ON",
      K2_KAFKA_TLS_CA_FILE: "/ca.pem",
      K2_KAFKA_TLS_CERT_FILE: "/client.pem",
      K2_KAFKA_TLS_KEY_FILE: "/client.key",
      ...sasl,
      K2_KAFKA_SASL_MECHANISM: "SCRAM-SHA-512"
    }, read)!
    assert.strictEqual(s.tls?.ca, CA)
    assert.strictEqual(s.tls?.caFile, "/ca.pem")
    assert.strictEqual(s.tls?.cert, CA)
    assert.strictEqual(Redacted.value(s.tls!.key!), KEY)
    assert.strictEqual(s.sasl?.mechanism, "scram-sha-512")
    assert.strictEqual(Redacted.value(s.sasl!.password), PASSWORD)
    const fromFile = kafkaSecurityFrom({ ...sasl, K2_KAFKA_SASL_PASSWORD: "", K2_KAFKA_SASL_PASSWORD_FILE: "/password" }, read)!
    // The file's final line break is not the password's.
    assert.strictEqual(Redacted.value(fromFile.sasl!.password), PASSWORD)
    assert.isUndefined(fromFile.tls)
    assert.strictEqual(describeSecurity(s), "SASL_SSL as alice (SCRAM-SHA-512)")
    assert.strictEqual(describeSecurity(fromFile), "SASL_PLAINTEXT as alice (SCRAM-SHA-512)")
    assert.strictEqual(describeSecurity(kafkaSecurityFrom({ K2_KAFKA_TLS: "true" }, read)), "TLS")
  })

  it("refuses what is wrong or would be ignored, naming the variable", () => {
    const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
      [{ K2_KAFKA_TLS: "maybe" }, `K2_KAFKA_TLS: "maybe" is not on or off`],
      [{ K2_KAFKA_TLS_CA_FILE: "/ca.pem" }, "K2_KAFKA_TLS_CA_FILE: set K2_KAFKA_TLS=on too"],
      [{ K2_KAFKA_TLS: "on", K2_KAFKA_TLS_CA_FILE: "/missing.pem" }, "K2_KAFKA_TLS_CA_FILE: cannot read /missing.pem (ENOENT)"],
      [{ K2_KAFKA_TLS: "on", K2_KAFKA_TLS_CA_FILE: "/empty.pem" }, "K2_KAFKA_TLS_CA_FILE: /empty.pem holds no PEM certificate"],
      [{ K2_KAFKA_TLS: "on", K2_KAFKA_TLS_CERT_FILE: "/client.pem" }, "K2_KAFKA_TLS_CERT_FILE without K2_KAFKA_TLS_KEY_FILE"],
      [{ K2_KAFKA_TLS: "on", K2_KAFKA_TLS_CERT_FILE: "/client.pem", K2_KAFKA_TLS_KEY_FILE: "/ca.pem" }, "K2_KAFKA_TLS_KEY_FILE: /ca.pem holds no PEM private key"],
      [{ ...sasl, K2_KAFKA_SASL_MECHANISM: "gssapi" }, `K2_KAFKA_SASL_MECHANISM: "gssapi" is not one of plain | scram-sha-256 | scram-sha-512`],
      [{ ...sasl, K2_KAFKA_SASL_USERNAME: "" }, "K2_KAFKA_SASL_MECHANISM scram-sha-512 needs K2_KAFKA_SASL_USERNAME"],
      [{ ...sasl, K2_KAFKA_SASL_PASSWORD: "" }, "needs a password: K2_KAFKA_SASL_PASSWORD, or K2_KAFKA_SASL_PASSWORD_FILE"],
      [{ ...sasl, K2_KAFKA_SASL_PASSWORD_FILE: "/password" }, "give K2_KAFKA_SASL_PASSWORD or K2_KAFKA_SASL_PASSWORD_FILE, not both"],
      [{ ...sasl, K2_KAFKA_SASL_PASSWORD: "", K2_KAFKA_SASL_PASSWORD_FILE: "/nope" }, "K2_KAFKA_SASL_PASSWORD_FILE: cannot read /nope"],
      [{ K2_KAFKA_SASL_USERNAME: "alice", K2_KAFKA_SASL_PASSWORD: PASSWORD }, "K2_KAFKA_SASL_USERNAME, K2_KAFKA_SASL_PASSWORD: set K2_KAFKA_SASL_MECHANISM too"]
    ]
    for (const [env, says] of cases) {
      const message = refusal(env)
      assert.include(message, says)
      assert.notInclude(message, PASSWORD)
      assert.notInclude(message, "MIIE", "a key file's content is not shown")
    }
  })
})

/** A CA file on disk, for the programs. */
const caFile = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k2-ca-"))
  fs.writeFileSync(path.join(dir, "ca.pem"), CA)
  return path.join(dir, "ca.pem")
}

describe.concurrent("the programs read the settings", () => {
  it.effect("ingest, produce and replay --topic refuse a wrong one with exit 2 before anything is touched, never showing the password", () =>
    Effect.gen(function*() {
      const env = { ...sasl, K2_KAFKA_SASL_MECHANISM: "kerberos" }
      const warehouse = tempWarehouse()
      const runs = [
        spawnProgram("ingest", ["--brokers", "127.0.0.1:1", "--metrics-port", "0"], { K2_WAREHOUSE: warehouse, ...env }),
        spawnProgram("produce", ["--brokers", "127.0.0.1:1"], env),
        spawnProgram("replay", ["--brokers", "127.0.0.1:1", "--topic", "k2.replay.t", "--from", "2024-01-01", "--to", "2024-01-02"], { K2_WAREHOUSE: warehouse, ...env })
      ]
      for (const run of runs) {
        assert.strictEqual(yield* Effect.promise(() => run.exited), 2, run.output())
        assert.include(run.output(), `K2_KAFKA_SASL_MECHANISM: "kerberos" is not one of`)
        assert.notInclude(run.output(), PASSWORD)
      }
      assert.deepStrictEqual(fs.readdirSync(warehouse), [], "refused before the warehouse is touched")
    }), 60_000)

  it.effect("a replay to stdout reads none of them (a deployment sets them for every program)", () =>
    Effect.gen(function*() {
      const run = spawnProgram("replay", ["--from", "2024-01-01", "--to", "2024-01-02"], { K2_WAREHOUSE: tempWarehouse(), K2_KAFKA_TLS: "maybe" })
      yield* Effect.promise(() => run.exited)
      assert.notInclude(run.output(), "K2_KAFKA_TLS")
    }), 60_000)

  it.effect("--help names the variables and shows no value of theirs", () =>
    Effect.gen(function*() {
      for (const program of ["ingest", "produce", "replay"] as const) {
        const run = spawnProgram(program, ["--help"], sasl)
        assert.strictEqual(yield* Effect.promise(() => run.exited), 0, run.output())
        assert.include(run.output(), "K2_KAFKA_SASL_PASSWORD or K2_KAFKA_SASL_PASSWORD_FILE")
        assert.include(run.output(), "K2_KAFKA_TLS_CA_FILE")
        assert.notInclude(run.output(), PASSWORD)
      }
    }), 60_000)

  it.effect("the line ingest starts with says how it connects, never the password", () =>
    Effect.gen(function*() {
      const run = spawnProgram(
        "ingest",
        ["--brokers", "127.0.0.1:1", "--metrics-port", "0", "--broker-wait", "1"],
        { K2_WAREHOUSE: tempWarehouse(), ...sasl, K2_KAFKA_TLS: "on", K2_KAFKA_TLS_CA_FILE: caFile() }
      )
      assert.strictEqual(yield* Effect.promise(() => run.exited), 1, run.output())
      assert.include(run.output(), "(platformatic, SASL_SSL as alice (SCRAM-SHA-512))")
      assert.notInclude(run.output(), PASSWORD)
    }), 60_000)
})
