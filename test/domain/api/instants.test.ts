/**
 * A `+` offset sent unencoded in a query string is form-decoded to a space; where a space can
 * only be that `+` (right before the offset at the end of an ISO instant) it reads as `+`, in the
 * HTTP API and in the CLI alike.
 */
import { assert, describe, it } from "@effect/vitest"
import { BadParam, parseInstant } from "../../../src/domain/api/params.ts"
import { parseInstant as cliInstant, UsageError } from "../../../src/programs/cli/common.ts"

const AT = Date.UTC(2024, 0, 2) * 1000 // 2024-01-02T10:00:00+10:00

describe("instants with a form-decoded + offset", () => {
  it("a space before hh:mm, hhmm or hh at the end reads as +", () => {
    for (const text of ["2024-01-02T10:00:00 10:00", "2024-01-02T10:00:00 1000", "2024-01-02T10:00:00 10", "2024-01-02 10:00:00 10:00"]) {
      assert.strictEqual(parseInstant("from", text), AT, text)
    }
    assert.strictEqual(parseInstant("from", "2024-01-02T10:00:00.000001 10:00"), AT + 1)
    // The signed forms read the same.
    assert.strictEqual(parseInstant("from", "2024-01-02T10:00:00+10:00"), AT)
    assert.strictEqual(parseInstant("from", "2024-01-02T10:00:00+10"), AT)
    assert.strictEqual(parseInstant("from", "2024-01-01T14:00:00-10"), AT)
    assert.strictEqual(cliInstant("from", "2024-01-02T10:00:00 10:00"), AT)
    // Without seconds (ISO 8601's hh:mm) too.
    assert.strictEqual(parseInstant("from", "2024-01-02T10:00 10:00"), AT)
  })

  it("any other space is refused, saying a + must be sent as %2B", () => {
    for (const text of ["2024-01-02T10:00:00 25:00", "2024-01-02T10:00:00  10:00", "2024-01-02T10:00:00 10:0", "2024-01-02 10:00", " 2024-01-02T10:00:00Z", "2024-01-02T10:00:00Z 10:00", "2024-01-02T10:00:00 +10:00"]) {
      const refused = parseInstant("from", text)
      assert.instanceOf(refused, BadParam, text)
      assert.include((refused as BadParam).detail, "%2B", text)
    }
    assert.throws(() => cliInstant("from", "2024-01-02T10:00:00 25:00"), UsageError)
  })
})
