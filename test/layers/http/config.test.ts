import { assert, describe, it } from "@effect/vitest"
import { InvalidServerConfig, parseKeys, sha256Hex } from "../../../src/layers/http/config.ts"

describe("K2_API_KEYS", () => {
  it("two entries with one hash are refused, naming both entries and not the hash", () => {
    const hash = sha256Hex("shared-secret")
    // Case differs: still one key. Before, the last entry silently won the key's lookups.
    const bad = parseKeys(`alice:${hash}:read, carol:${sha256Hex("other")}:sql, bob:${hash.toUpperCase()}:*`)
    assert.instanceOf(bad, InvalidServerConfig)
    const message = (bad as InvalidServerConfig).message
    assert.include(message, "entry 1 (alice)")
    assert.include(message, "entry 3 (bob)")
    assert.notInclude(message.toLowerCase(), hash)
  })

  it("two entries with one name are refused: the name is the key's rate-limit principal", () => {
    const bad = parseKeys(`alice:${sha256Hex("a")}:read, alice:${sha256Hex("b")}:sql`)
    assert.instanceOf(bad, InvalidServerConfig)
    assert.include((bad as InvalidServerConfig).message, "entry 1 (alice)")
    assert.include((bad as InvalidServerConfig).message, "entry 2 (alice)")
  })

  it("distinct names and hashes are accepted, hashes held in lowercase", () => {
    const keys = parseKeys(`alice:${sha256Hex("a")}:read, bob:${sha256Hex("b").toUpperCase()}:read+sql`)
    assert.ok(Array.isArray(keys))
    assert.deepStrictEqual((keys as ReadonlyArray<{ name: string; sha256: string }>).map((k) => [k.name, k.sha256]), [
      ["alice", sha256Hex("a")],
      ["bob", sha256Hex("b")]
    ])
  })
})
