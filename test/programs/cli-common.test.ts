/** The query and replay programs' --snapshot-id and --as-of, read as the HTTP API reads them. */
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { snapshotOf, UsageError } from "../../src/programs/cli/common.ts"

const refused = (id: string | undefined, asOf: string | undefined) => {
  try {
    snapshotOf(Option.fromUndefinedOr(id), Option.fromUndefinedOr(asOf))
  } catch (e) {
    if (e instanceof UsageError) return e.message
    throw e
  }
  assert.fail(`${id} ${asOf} was accepted`)
}

describe("snapshotOf", () => {
  it("an id past signed 64 bits is a usage error, as in the API (it was looked up and not found: exit 1)", () => {
    assert.strictEqual(refused("99999999999999999999", undefined), `--snapshot-id: "99999999999999999999" is not a snapshot id`)
    assert.strictEqual(refused("9223372036854775808", undefined), "--snapshot-id: \"9223372036854775808\" is not a 64-bit snapshot id")
    assert.strictEqual(refused("-9223372036854775809", undefined), "--snapshot-id: \"-9223372036854775809\" is not a 64-bit snapshot id")
  })

  it("the 64-bit ends, an instant, or neither are read", () => {
    assert.deepStrictEqual(snapshotOf(Option.some("9223372036854775807"), Option.none()), { _tag: "ById", snapshotId: 9223372036854775807n })
    assert.deepStrictEqual(snapshotOf(Option.some("-9223372036854775808"), Option.none()), { _tag: "ById", snapshotId: -9223372036854775808n })
    assert.deepStrictEqual(snapshotOf(Option.none(), Option.some("2024-01-02")), { _tag: "AsOf", timestampMs: Date.UTC(2024, 0, 2) })
    assert.isUndefined(snapshotOf(Option.none(), Option.none()))
  })

  it("a malformed or empty value, or both flags, are usage errors naming the flag", () => {
    assert.strictEqual(refused("abc", undefined), `--snapshot-id: "abc" is not a snapshot id`)
    assert.strictEqual(refused("", undefined), `--snapshot-id: "" is not a snapshot id`)
    assert.match(refused(undefined, "yesterday"), /^--as-of: "yesterday" is not an instant/)
    assert.match(refused(undefined, ""), /^--as-of: "" is not an instant/)
    assert.strictEqual(refused("1", "2024-01-02"), "give --snapshot-id or --as-of, not both")
  })
})
