/**
 * `/v1/snapshots/{table}` over a long history: a table keeping days of one-second commits holds
 * tens of thousands of snapshots (a day's are 73 MB of JSON). The listing answers a bounded page,
 * newest first in pages, each in commit order, and names the older ones' page as the paged reads do,
 * pinned to the state the first page read.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { currentSnapshot } from "../../../src/domain/iceberg/metadata.ts"
import type { Snapshot } from "../../../src/domain/iceberg/spec.ts"
import { identifierOf } from "../../../src/domain/tables.ts"
import { Catalog } from "../../../src/services/Catalog.ts"
import { auth, baseUrl, get, KEYS, served, testOptions } from "../../integration/http-support.ts"
import { commitOnCurrent } from "../../support/snapshots.ts"

/** `count` more snapshots of trades, one commit, as a long run of one-second commits leaves them. */
const commitMany = (count: number) =>
  Effect.gen(function*() {
    const catalog = yield* Catalog
    const id = identifierOf("trades")
    const { metadata } = yield* catalog.loadTable(id)
    let parent = currentSnapshot(metadata)!
    const added: Array<Snapshot> = []
    for (let i = 1; i <= count; i++) {
      const s: Snapshot = {
        ...parent,
        "snapshot-id": parent["snapshot-id"] + 1n,
        "parent-snapshot-id": parent["snapshot-id"],
        "sequence-number": parent["sequence-number"] + 1n,
        "timestamp-ms": parent["timestamp-ms"] + 1
      }
      added.push(s)
      parent = s
    }
    yield* catalog.commitTable(id, [], [
      ...added.map((snapshot) => ({ action: "add-snapshot" as const, snapshot })),
      { action: "set-snapshot-ref" as const, "ref-name": "main", type: "branch" as const, "snapshot-id": parent["snapshot-id"] }
    ])
  })

type Listing = { status: number; body: { data: ReadonlyArray<{ snapshotId: string }>; next_cursor: string | null }; cursor: string | null; link: string | null; text: string }

layer(served(testOptions(), undefined, { trades: 20, quotes: 20 }), { timeout: 120_000, excludeTestServices: true })(
  "GET /v1/snapshots/{table}: a long history",
  (it) => {
    it.effect("answers a bounded page and names the older ones' page, pinned, until all are listed once", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const list = (query: string) =>
          Effect.gen(function*() {
            const res = yield* get(`${base}/v1/snapshots/trades${query}`, auth(KEYS.full))
            const text = yield* Effect.promise(() => res.text())
            return {
              status: res.status,
              body: res.status === 200 ? JSON.parse(text) : undefined,
              cursor: res.headers.get("k2-next-cursor"),
              link: res.headers.get("link"),
              text
            } as Listing
          })
        yield* commitMany(2_500)
        const first = yield* list("")
        assert.strictEqual(first.status, 200, first.text)
        // Bounded without a limit: a day's history in one answer was 73 MB.
        assert.strictEqual(first.body.data.length, 1_000)
        assert.isNotNull(first.cursor)
        assert.strictEqual(first.body.next_cursor, first.cursor)
        assert.include(first.link!, `cursor=${first.cursor}`)
        // A commit between pages changes none of them: the cursor pins the first page's state.
        yield* commitOnCurrent("trades", (parent) => ({ "timestamp-ms": parent["timestamp-ms"] + 1 }))
        const pages = [first.body.data.map((s) => s.snapshotId)]
        let cursor: string | null = first.cursor
        while (cursor !== null) {
          const page: Listing = yield* list(`?limit=700&cursor=${cursor}`)
          assert.strictEqual(page.status, 200, page.text)
          assert.isAtMost(page.body.data.length, 700)
          pages.unshift(page.body.data.map((s) => s.snapshotId))
          cursor = page.cursor
        }
        const all = pages.flat()
        const latest = (yield* list("?limit=10000")).body.data.map((s) => s.snapshotId)
        // Every snapshot of the first page's state once, in commit order: all but the one committed since.
        assert.deepStrictEqual(all, latest.slice(0, -1))
        assert.isAbove(all.length, 2_500)
        const bad = yield* list("?cursor=bm90LWEtY3Vyc29y")
        assert.strictEqual(bad.status, 400, bad.text)
        assert.include(bad.text, "invalid_cursor")
      }))

    it.effect("a page after a cursor shrinks as its snapshots expire: it is revalidated, and its ETag says so", () =>
      Effect.gen(function*() {
        const base = yield* baseUrl
        const page = (query: string, headers: Record<string, string> = {}) =>
          Effect.gen(function*() {
            const res = yield* get(`${base}/v1/snapshots/trades${query}`, { ...auth(KEYS.full), ...headers })
            const text = yield* Effect.promise(() => res.text())
            return { status: res.status, text, etag: res.headers.get("etag"), cacheControl: res.headers.get("cache-control"), cursor: res.headers.get("k2-next-cursor") }
          })
        yield* commitMany(5)
        const first = yield* page("?limit=2")
        assert.isNotNull(first.cursor, first.text)
        const query = `?limit=2&cursor=${first.cursor}`
        const before = yield* page(query)
        assert.strictEqual(before.status, 200, before.text)
        const listed = (JSON.parse(before.text).data as ReadonlyArray<{ snapshotId: string }>).map((s) => s.snapshotId)
        assert.lengthOf(listed, 2)
        // Never immutable: a cache holding it for a year answered snapshots expired since.
        assert.strictEqual(before.cacheControl, "private, no-cache")
        // Table maintenance expires the oldest snapshot the page lists.
        const catalog = yield* Catalog
        yield* catalog.commitTable(identifierOf("trades"), [], [{ action: "remove-snapshots", "snapshot-ids": [BigInt(listed[0]!)] }])
        // Asked again with its ETag, it was 304: the same ETag for a shorter list.
        const after = yield* page(query, { "if-none-match": before.etag! })
        assert.strictEqual(after.status, 200, after.text)
        assert.notStrictEqual(after.etag, before.etag)
        assert.notInclude((JSON.parse(after.text).data as ReadonlyArray<{ snapshotId: string }>).map((s) => s.snapshotId), listed[0])
        // Unchanged, it is still 304.
        assert.strictEqual((yield* page(query, { "if-none-match": after.etag! })).status, 304)
      }))
  }
)
