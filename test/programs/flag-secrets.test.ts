/**
 * A refused setting's usage error shows the value, which for a catalog URL may hold a password
 * (`postgresql://user:secret@host/db`): the error goes to stderr and so to the logs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import type { Flag } from "effect/cli"
import { lakehouseFlags } from "../../src/programs/cli/lakehouse.ts"
import { schemaRegistryFlag } from "../../src/programs/cli/kafka.ts"
import { parseFlag, refusal } from "../support/flags.ts"

describe("a refused URL setting", () => {
  it.effect("shows the URL without its password, from the variable or the flag", () =>
    Effect.gen(function*() {
      const url = "postgress://alice:s3cret@db:5432/k2"
      for (const exit of [yield* parseFlag(lakehouseFlags.catalog, { K2_CATALOG: url }), yield* parseFlag(lakehouseFlags.catalog, {}, { catalog: [url] })]) {
        const message = refusal(exit)
        assert.notInclude(message, "s3cret")
        assert.include(message, "postgress://***@db:5432/k2")
      }
    }))

  it.effect("a value that is no URL is shown as given", () =>
    Effect.gen(function*() {
      const message = refusal(yield* parseFlag(lakehouseFlags.catalog, { K2_CATALOG: "ftp://x/catalog" }))
      assert.include(message, `"ftp://x/catalog"`)
    }))
})

describe("a malformed URL setting", () => {
  // It was accepted, then failed on first use as "catalog unavailable: Invalid URL", naming neither
  // the setting nor the value (and a registry's was retried as a registry that is down).
  it.effect("is refused at start, naming its setting, the password hidden", () =>
    Effect.gen(function*() {
      for (
        const [flag, env, name, url, shown] of [
          [lakehouseFlags.catalog, "K2_CATALOG", "catalog", "postgresql://alice:s3cret@db:notaport/k2", "postgresql://***@db:notaport/k2"],
          [lakehouseFlags.catalog, "K2_CATALOG", "catalog", "http://alice:s3cret@rest:notaport/catalog", "http://***@rest:notaport/catalog"],
          [schemaRegistryFlag, "K2_SCHEMA_REGISTRY_URL", "schema-registry", "http://alice:s3cret@registry:notaport", "http://***@registry:notaport"],
          // A token given as the user name alone (`https://TOKEN@host`) was shown whole.
          [lakehouseFlags.catalog, "K2_CATALOG", "catalog", "https://s3cret@rest:notaport/catalog", "https://***@rest:notaport/catalog"],
          [schemaRegistryFlag, "K2_SCHEMA_REGISTRY_URL", "schema-registry", "https://s3cret@registry:notaport", "https://***@registry:notaport"],
          // K2 adds /v1/... after a REST URI: a query broke every request, and each failure showed it.
          [lakehouseFlags.catalog, "K2_CATALOG", "catalog", "https://rest/catalog?token=s3cret", "https://rest/catalog?token=***"]
        ] as const
      ) {
        const fromEnv = refusal(yield* parseFlag(flag as Flag.Flag<unknown>, { [env]: url }))
        assert.include(fromEnv, env)
        const fromFlag = refusal(yield* parseFlag(flag as Flag.Flag<unknown>, {}, { [name]: [url] }))
        for (const message of [fromEnv, fromFlag]) {
          assert.include(message, `--${name}`)
          assert.include(message, shown)
          assert.notInclude(message, "s3cret")
        }
      }
    }))

  it.effect("a URL pg reads is still taken: an empty host (a socket in host=), a space or a lone % in the password", () =>
    Effect.gen(function*() {
      for (const url of ["postgresql://u:p@/k2?host=/var/run/postgresql", "postgresql:///k2", "postgresql://u:p w@db/k2", "postgresql://u:50%@db/k2", "postgres://[::1]:5432/k2"]) {
        const exit = yield* parseFlag(lakehouseFlags.catalog, { K2_CATALOG: url })
        assert.isTrue(Exit.isSuccess(exit), `${url}: ${String(exit)}`)
      }
    }))
})
