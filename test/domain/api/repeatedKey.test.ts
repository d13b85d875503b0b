/** repeatedKey: a JSON body's field named twice, as POST /v1/sql refuses it (JSON.parse keeps the last). */
import { assert, describe, it } from "@effect/vitest"
import { repeatedKey } from "../../../src/domain/api/params.ts"

describe("repeatedKey", () => {
  it("finds a name an object gives twice, compared as parsed, at any depth", () => {
    assert.strictEqual(repeatedKey(`{"sql":"a","sql":"b"}`), "sql")
    assert.strictEqual(repeatedKey(`{ "sql" : "a" ,\n "s\\u0071l"\t: "b" }`), "sql")
    assert.strictEqual(repeatedKey(`{"a":[{"x":1,"x":2}]}`), "x")
    assert.strictEqual(repeatedKey(`{"a\\"b":1,"a\\"b":2}`), "a\"b")
  })

  it("sees no repetition in names of different objects, in string values or in arrays of strings", () => {
    assert.isUndefined(repeatedKey(`{"sql":"{\\"sql\\":1, \\"sql\\":2}","limit":1}`))
    assert.isUndefined(repeatedKey(`{"a":{"x":1},"b":{"x":2},"x":3}`))
    assert.isUndefined(repeatedKey(`{"a":["x","x"],"b":["x" , "x"]}`))
    assert.isUndefined(repeatedKey(`[{"x":1},{"x":1}]`))
    assert.isUndefined(repeatedKey(`{"a\\\\":1,"a":2}`))
    assert.isUndefined(repeatedKey(``))
  })
})
