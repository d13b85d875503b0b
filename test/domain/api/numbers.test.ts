/**
 * Numbers in the OpenAPI document and in POST /v1/sql's body are plain JSON numbers. Declared as
 * `Schema.Number`, whose JSON form also takes the strings "Infinity", "-Infinity" and "NaN", the
 * document said every count, status and `limit` could be one of those strings (a generated client
 * typed them `number | string`), lost `limit`'s integer type and minimum, and a `"limit": "5"` was
 * refused as `Expected "Infinity" | "-Infinity" | "NaN"`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { OpenApi } from "effect/http-api"
import { Api, SqlRequest } from "../../../src/domain/api/Api.ts"

describe("numbers in the API's schemas", () => {
  it.effect("the OpenAPI document declares no number as possibly the string Infinity or NaN", () =>
    Effect.sync(() => {
      const doc = OpenApi.fromApi(Api) as unknown as { components: { schemas: Record<string, unknown> } }
      const offending = Object.entries(doc.components.schemas)
        .filter(([, schema]) => JSON.stringify(schema).includes("\"NaN\""))
        .map(([name]) => name)
      assert.deepStrictEqual(offending, [])
      const limit = JSON.stringify((doc.components.schemas["SqlRequest"] as { properties: Record<string, unknown> }).properties["limit"])
      assert.include(limit, "\"type\":\"integer\"")
      assert.include(limit, "\"minimum\":1")
    }))

  it.effect("SQL's limit given as a string is refused as not a number, not as not Infinity or NaN", () =>
    Effect.sync(() => {
      const decode = Schema.decodeUnknownExit(Schema.toCodecJson(SqlRequest))
      const exit = decode({ sql: "SELECT 1", limit: 5 })
      assert.strictEqual(exit._tag, "Success")
      for (const limit of ["5", "Infinity", "NaN"]) {
        const refused = decode({ sql: "SELECT 1", limit })
        assert.strictEqual(refused._tag, "Failure", limit)
        assert.notInclude(String(refused), "Infinity\" | \"-Infinity\"", limit)
        assert.include(String(refused), "number", limit)
      }
    }))
})
