/**
 * The OpenAPI document says what POST /v1/sql answers: its JSON body's schema (SqlResult, which
 * admits no other property) names every field the handler sends, `truncated` and `truncated_by` too.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { auth, baseUrl, KEYS, served, testOptions } from "../../integration/http-support.ts"

const post = (base: string, body: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${base}/v1/sql`, { method: "POST", headers: { ...auth(KEYS.full), "content-type": "application/json" }, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() as Record<string, unknown> }
  })

layer(served(testOptions(), undefined, { trades: 5, quotes: 5 }), { timeout: 120_000, excludeTestServices: true })("OpenAPI: POST /v1/sql", (it) => {
  it.effect("the JSON answer has exactly the properties SqlResult declares (it admits no others), whole or cut", () =>
    Effect.gen(function*() {
      const base = yield* baseUrl
      const spec = yield* Effect.promise(() => fetch(`${base}/openapi.json`).then((r) => r.json() as Promise<any>))
      const ref: string = spec.paths["/v1/sql"].post.responses["200"].content["application/json"].schema.$ref
      const schema = spec.components.schemas[ref.split("/").at(-1)!]
      assert.strictEqual(schema.additionalProperties, false)
      for (const [body, truncatedBy] of [[{ sql: "SELECT 1 AS n" }, null], [{ sql: "SELECT * FROM range(3)", limit: 2 }, "rows"]] as const) {
        const a = yield* post(base, body)
        assert.strictEqual(a.status, 200, JSON.stringify(a.body))
        assert.strictEqual(a.body["truncated_by"], truncatedBy)
        const undeclared = Object.keys(a.body).filter((k) => !(k in schema.properties))
        assert.deepStrictEqual(undeclared, [], `sent but not in the OpenAPI document: ${undeclared.join(", ")}`)
        assert.deepStrictEqual([...schema.required].sort(), Object.keys(a.body).sort())
      }
      // What the fields hold, as sent.
      const props = schema.properties
      assert.strictEqual(props.truncated.type, "boolean")
      assert.deepStrictEqual(props.columns.type, "array")
    }))
})
