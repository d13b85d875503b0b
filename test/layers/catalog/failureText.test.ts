/** What a driver's or transport's failure says in an error message. */
import { assert, describe, it } from "@effect/vitest"
import { causesText, failureText } from "../../../src/layers/catalog/failureText.ts"

describe("failureText", () => {
  it("an error without words is named by its code, else by its name, never empty", () => {
    assert.strictEqual(failureText(Object.assign(new Error(""), { code: "ECONNREFUSED" })), "ECONNREFUSED")
    assert.strictEqual(failureText(new RangeError("")), "RangeError")
    assert.strictEqual(failureText("plain"), "plain")
  })
})

describe("causesText", () => {
  it("each reason down the causes once, outermost first", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8181"), { code: "ECONNREFUSED" })
    const error = { message: "GET /v1/config", cause: new TypeError("fetch failed", { cause: new Error("fetch failed", { cause: refused }) }) }
    assert.strictEqual(causesText(error), "fetch failed: connect ECONNREFUSED 127.0.0.1:8181")
  })
})
