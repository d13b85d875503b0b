/**
 * The OpenAPI document is built once from the static Api, so a limit the server's settings change
 * is named by its setting, with its default: the document said "1..10000" and "CSV past 10000" on
 * a server started with another K2_API_MAX_PAGE_ROWS, and a generated client refused what it takes.
 */
import { assert, describe, it } from "@effect/vitest"
import { OpenApi } from "effect/http-api"
import { Api } from "../../../src/domain/api/Api.ts"

const spec = OpenApi.fromApi(Api) as unknown as {
  paths: Record<string, Record<string, { parameters?: ReadonlyArray<{ name: string; schema: { description?: string } }> }>>
  components: { schemas: Record<string, { properties: Record<string, unknown> }> }
}
const describedAs = (path: string, name: string) =>
  spec.paths[path]!["get"]!.parameters!.find((p) => p.name === name)!.schema.description ?? ""

const configured: ReadonlyArray<readonly [string, string, string, string]> = [
  ["/v1/trades", "limit", "K2_API_MAX_PAGE_ROWS", "10000"],
  ["/v1/quotes", "limit", "K2_API_MAX_PAGE_ROWS", "10000"],
  ["/v1/trades/with-quotes", "limit", "K2_API_MAX_PAGE_ROWS", "10000"],
  ["/v1/bars", "interval", "K2_API_MAX_BARS", "100000"],
  ["/v1/summary", "from_day", "K2_API_MAX_RANGE_DAYS", "366"]
]

describe("the OpenAPI document's configurable limits", () => {
  for (const [path, name, setting, byDefault] of configured) {
    it(`${path} ${name} names ${setting}, its ${byDefault} only as the default`, () => {
      const text = describedAs(path, name)
      assert.include(text, setting)
      // Every mention of the default number says it is one.
      const bare = text.split(byDefault).slice(1).filter((after) => !after.startsWith(" by default"))
      assert.deepStrictEqual(bare, [], text)
      assert.include(text, `${byDefault} by default`)
    })
  }

  it("POST /v1/sql's limit names K2_API_SQL_MAX_ROWS, its 100000 as the default", () => {
    const text = JSON.stringify(spec.components.schemas["SqlRequest"]!.properties["limit"])
    assert.include(text, "K2_API_SQL_MAX_ROWS (100000 by default)")
  })
})
