import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import { decodeSnapshotCursor, encodeSnapshotCursor, snapshotPage } from "../../../src/domain/query/snapshotPages.ts"

describe("snapshot listing pages", () => {
  const listed = Array.from({ length: 7 }, (_, i) => ({ snapshotId: BigInt(i + 1) }))
  const ids = (page: ReadonlyArray<{ snapshotId: bigint }>) => page.map((s) => Number(s.snapshotId))

  it("pages from the newest back, each in commit order, each snapshot once", () => {
    assert.deepStrictEqual(snapshotPage(listed, 3, undefined), { page: listed.slice(4), older: 5n })
    assert.deepStrictEqual(ids(snapshotPage(listed, 3, 5n)!.page), [2, 3, 4])
    assert.deepStrictEqual(snapshotPage(listed, 3, 2n), { page: listed.slice(0, 1), older: null })
    assert.deepStrictEqual(snapshotPage(listed, 10, undefined)!.older, null)
  })

  it("a page whose end has expired is none (the caller says so)", () => {
    assert.isUndefined(snapshotPage(listed, 3, 99n))
  })

  it("a cursor reads back; another table's, or not one, is refused", () => {
    const text = encodeSnapshotCursor({ table: "trades", pinned: 9_000_000_000_000_000_001n, before: -5n })
    assert.deepStrictEqual(Result.getOrThrow(decodeSnapshotCursor(text, "trades")), { table: "trades", pinned: 9_000_000_000_000_000_001n, before: -5n })
    const other = decodeSnapshotCursor(text, "quotes")
    assert.isTrue(Result.isFailure(other) && other.failure.detail.includes("snapshots of trades"))
    assert.isTrue(Result.isFailure(decodeSnapshotCursor("bm90LWEtY3Vyc29y", "trades")))
  })
})
