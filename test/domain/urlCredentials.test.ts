import { assert, describe, it } from "@effect/vitest"
import { splitCredentials, withoutPassword } from "../../src/domain/urlCredentials.ts"

describe("URL credentials", () => {
  it("a URL's password is hidden, however it is written; other text is left as it is", () => {
    assert.strictEqual(withoutPassword("postgresql://alice:s3cret@db:5432/k2"), "postgresql://alice:***@db:5432/k2")
    assert.strictEqual(withoutPassword("postgres://alice:p@ss/w#rd@db/k2"), "postgres://alice:***@db/k2")
    assert.strictEqual(withoutPassword("https://:token@h"), "https://:***@h")
    for (const text of ["catalog.db", "ftp://x/catalog", "http://rest:8181/v1", "https://alice@h/x"]) assert.strictEqual(withoutPassword(text), text)
  })

  it("user info moves to Basic authorization, decoded", () => {
    assert.deepStrictEqual(splitCredentials("https://h:4318/v1/traces"), { url: "https://h:4318/v1/traces" })
    assert.deepStrictEqual(splitCredentials("https://a%40b:p%zz@h/v1/traces"), {
      url: "https://h/v1/traces",
      authorization: `Basic ${Buffer.from("a@b:p%zz").toString("base64")}`
    })
  })
})
