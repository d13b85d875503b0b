import { assert, describe, it } from "@effect/vitest"
import { splitCredentials, withoutCredentials } from "../../src/domain/urlCredentials.ts"

describe("URL credentials", () => {
  it("a URL's user info is hidden, however it is written; other text is left as it is", () => {
    assert.strictEqual(withoutCredentials("postgresql://alice:s3cret@db:5432/k2"), "postgresql://***@db:5432/k2")
    assert.strictEqual(withoutCredentials("postgres://alice:p@ss/w#rd@db/k2"), "postgres://***@db/k2")
    assert.strictEqual(withoutCredentials("https://:token@h"), "https://***@h")
    for (const text of ["catalog.db", "ftp://x/catalog", "http://rest:8181/v1", "postgresql://db/k2?sslkey=/etc/k2/client.key"]) {
      assert.strictEqual(withoutCredentials(text), text)
    }
  })

  // `https://TOKEN@host` is how GitHub-style tokens and many proxies take a secret: a user name given
  // alone is as secret as a password, so the whole user info goes.
  it("a user name given alone is hidden too", () => {
    assert.strictEqual(withoutCredentials("https://ghp_SECRET123@rest.example/v1"), "https://***@rest.example/v1")
    assert.strictEqual(withoutCredentials("http://SECRET123@registry:notaport"), "http://***@registry:notaport")
  })

  it("password parameters of a PostgreSQL URL are hidden, other parameters are not", () => {
    assert.strictEqual(
      withoutCredentials("postgresql://db/k2?user=alice&password=SECRET123&sslkey=/k.pem&sslpassword=SECRET456#x"),
      "postgresql://db/k2?user=alice&password=***&sslkey=/k.pem&sslpassword=***#x"
    )
    assert.strictEqual(withoutCredentials("postgres:///k2?PassWord=SECRET123"), "postgres:///k2?PassWord=***")
  })

  it("every parameter value of an http(s) URL is hidden: a key put in the query", () => {
    assert.strictEqual(withoutCredentials("https://rest/catalog?token=SECRET123&x=1#f"), "https://rest/catalog?token=***&x=***#f")
  })

  it("user info moves to Basic authorization, decoded", () => {
    assert.deepStrictEqual(splitCredentials("https://h:4318/v1/traces"), { url: "https://h:4318/v1/traces" })
    assert.deepStrictEqual(splitCredentials("https://a%40b:p%zz@h/v1/traces"), {
      url: "https://h/v1/traces",
      authorization: `Basic ${Buffer.from("a@b:p%zz").toString("base64")}`
    })
  })
})
