import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { fromEnv, InvalidServerConfig, parseKeys, sha256Hex } from "../../../src/layers/http/config.ts"

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

describe("K2_API_KEYS entries refused, each saying what is wrong", () => {
  const h = sha256Hex("k")
  const refusal = (text: string) => {
    const bad = parseKeys(text)
    assert.instanceOf(bad, InvalidServerConfig, text)
    return (bad as InvalidServerConfig).message
  }

  it("spaces around a field are not part of it, as around a scope (the entry was refused as not name:sha256:scopes)", () => {
    const keys = parseKeys(`alice : ${h} : read + sql, bob:${sha256Hex("j")} :replay`)
    assert.ok(Array.isArray(keys), String(keys))
    assert.deepStrictEqual((keys as ReadonlyArray<{ name: string; sha256: string; scopes: ReadonlySet<string> }>).map((k) => [k.name, k.sha256, [...k.scopes]]), [
      ["alice", h, ["read", "sql"]],
      ["bob", sha256Hex("j"), ["replay"]]
    ])
  })

  it("a name of other characters, empty or too long is told what a name may be, not that the entry is not name:sha256:scopes", () => {
    for (const name of ["alice smith", "alice@corp", "a".repeat(65), ""]) {
      const message = refusal(`ok:${sha256Hex("o")}:read, ${name}:${h}:read`)
      assert.include(message, "K2_API_KEYS entry 2: the name must be 1 to 64 letters, digits, '.', '_' or '-'", name)
      // Whatever was written where the name goes (a key pasted there) is not repeated.
      if (name !== "") assert.notInclude(message, name)
    }
  })

  it("an entry of one field (a key pasted in place of name:sha256:scopes) is refused without repeating it", () => {
    // Such a key reads as a valid name: it was repeated as the entry's name, into the log.
    for (const pasted of ["MyRawSecretKey123", h, "k2_live.5f3a-9b"]) {
      const message = refusal(`ok:${sha256Hex("o")}:read, ${pasted}`)
      assert.include(message, "K2_API_KEYS entry 2 is not name:sha256:scopes: it has 1 field", pasted)
      assert.notInclude(message, pasted)
    }
  })

  it("an entry of two fields (a key pasted where the name goes, its scope after it) is refused without repeating it", () => {
    // Such a key reads as a valid name: the hash's refusal repeated it as the entry's name, into the log.
    for (const pasted of ["MyRawSecretKey123", "k2_live.5f3a-9b"]) {
      const message = refusal(`ok:${sha256Hex("o")}:read, ${pasted}:read`)
      assert.include(message, "K2_API_KEYS entry 2 is not name:sha256:scopes: it has 2 fields", pasted)
      assert.notInclude(message, pasted)
    }
  })

  it("scopes listed with a comma are told to be joined with + (the scope was read as an entry with no hash)", () => {
    const message = refusal(`alice:${h}:read,sql`)
    assert.include(message, "K2_API_KEYS entry 2 is not name:sha256:scopes")
    assert.include(message, "join scopes with + (read+sql)")
  })

  it("an entry with too many fields says how many it has and how entries are separated", () => {
    assert.include(refusal(`alice:${h}:read\nbob:${sha256Hex("j")}:sql`), "K2_API_KEYS entry 1 is not name:sha256:scopes: it has 5 fields separated by ':' (entries are separated by ',')")
    assert.include(refusal(`alice:sha256:${h}:read`), "it has 4 fields")
  })
})

describe("K2_API_* limits", () => {
  const read = (env: Record<string, string>) =>
    fromEnv.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord({ K2_API_AUTH: "off", ...env })))

  it.effect("a limit of 0 or below is refused at start, naming the variable", () =>
    Effect.gen(function*() {
      // A window of 0 s made every window NaN, so no request was ever counted: no rate limit at all.
      for (const name of ["K2_API_RATE_WINDOW_SECONDS", "K2_API_RATE_LIMIT", "K2_API_QUERY_TIMEOUT_MS", "K2_API_SQL_TIMEOUT_MS", "K2_API_MAX_BODY_BYTES", "K2_API_MAX_PAGE_ROWS", "K2_API_MAX_STREAMS", "K2_API_MAX_STREAMS_PER_KEY"]) {
        for (const value of ["0", "-5"]) {
          const error = yield* Effect.flip(read({ [name]: value }))
          assert.instanceOf(error, InvalidServerConfig, `${name}=${value}`)
          assert.include(error.message, `${name} must be at least 1, got ${value}`)
        }
      }
      const error = yield* Effect.flip(read({ K2_API_CACHE_BYTES: "-1" }))
      assert.include(error.message, "K2_API_CACHE_BYTES must be at least 0, got -1")
    }))

  it.effect("a JSON page larger than the query engine's (100,000 rows) is refused at start", () =>
    Effect.gen(function*() {
      // Else every JSON page past it was a 400 naming a limit the server had said it allowed.
      const error = yield* Effect.flip(read({ K2_API_MAX_PAGE_ROWS: "100001" }))
      assert.instanceOf(error, InvalidServerConfig)
      assert.include(error.message, "K2_API_MAX_PAGE_ROWS must be at most 100000, got 100001")
      assert.strictEqual((yield* read({ K2_API_MAX_PAGE_ROWS: "100000" })).maxPageRows, 100_000)
    }))

  it.effect("more symbols a request than the query engine takes (10,000) is refused at start", () =>
    Effect.gen(function*() {
      // Else a request within the server's limit but past the engine's was a 400 naming 10000.
      const error = yield* Effect.flip(read({ K2_API_MAX_SYMBOLS: "10001" }))
      assert.instanceOf(error, InvalidServerConfig)
      assert.include(error.message, "K2_API_MAX_SYMBOLS must be at most 10000, got 10001")
      assert.strictEqual((yield* read({ K2_API_MAX_SYMBOLS: "10000" })).maxSymbols, 10_000)
    }))

  it.effect("a time limit past what a timer holds (2^31 - 1 ms, less the sandbox's 2 s to kill) is refused at start", () =>
    Effect.gen(function*() {
      // Node fires a longer timer at once: every SQL answer and every CSV or Parquet export was a 503
      // query_timeout the moment its worker started, while JSON reads answered.
      for (const name of ["K2_API_QUERY_TIMEOUT_MS", "K2_API_SQL_TIMEOUT_MS"]) {
        const error = yield* Effect.flip(read({ [name]: String(2 ** 31) }))
        assert.instanceOf(error, InvalidServerConfig, name)
        assert.include(error.message, `${name} must be at most ${2 ** 31 - 1 - 2_000}, got ${2 ** 31}`)
      }
      const longest = yield* read({ K2_API_QUERY_TIMEOUT_MS: String(2 ** 31 - 1 - 2_000), K2_API_SQL_TIMEOUT_MS: String(2 ** 31 - 1 - 2_000) })
      assert.strictEqual(longest.sqlTimeoutMs, 2 ** 31 - 1 - 2_000)
    }))

  it.effect("the defaults, and a cache of 0 bytes (no cache), are accepted", () =>
    Effect.gen(function*() {
      const options = yield* read({ K2_API_CACHE_BYTES: "0", K2_API_RATE_WINDOW_SECONDS: "1" })
      assert.strictEqual(options.cacheBytes, 0)
      assert.strictEqual(options.rateWindowSeconds, 1)
      assert.strictEqual(options.rateLimit, 600)
      assert.deepStrictEqual([options.maxStreams, options.maxStreamsPerKey], [16, 4])
      const set = yield* read({ K2_API_MAX_STREAMS: "40", K2_API_MAX_STREAMS_PER_KEY: "10" })
      assert.deepStrictEqual([set.maxStreams, set.maxStreamsPerKey], [40, 10])
    }))
})

describe("K2_API_CORS_ORIGINS", () => {
  const read = (env: Record<string, string>) =>
    fromEnv.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord({ K2_API_AUTH: "off", ...env })))

  it.effect("an entry that no browser sends as its Origin is refused at start, with the origin it may mean", () =>
    Effect.gen(function*() {
      // Matched as the browser sends it: these allowed no one, and CORS failed in the browser without a word here.
      for (
        const [entry, says] of [
          ["https://app.example.com/", "https://app.example.com"],
          ["HTTPS://App.Example.com", "https://app.example.com"],
          ["https://app.example.com:443", "https://app.example.com"],
          ["https://app.example.com/ui", "https://app.example.com"],
          ["app.example.com", "scheme://host[:port]"],
          ["null", "scheme://host[:port]"]
        ] as const
      ) {
        const error = yield* Effect.flip(read({ K2_API_CORS_ORIGINS: `http://localhost:3000, ${entry}` }))
        assert.instanceOf(error, InvalidServerConfig, entry)
        assert.include(error.message, `K2_API_CORS_ORIGINS: ${JSON.stringify(entry)} is not an origin`)
        assert.include(error.message, says)
      }
    }))

  it.effect("origins as browsers send them, and *, are accepted", () =>
    Effect.gen(function*() {
      const options = yield* read({ K2_API_CORS_ORIGINS: "https://app.example.com, http://localhost:3000,http://[::1]:8080,chrome-extension://abcdef" })
      assert.deepStrictEqual(options.corsOrigins, ["https://app.example.com", "http://localhost:3000", "http://[::1]:8080", "chrome-extension://abcdef"])
      assert.deepStrictEqual((yield* read({ K2_API_CORS_ORIGINS: "*" })).corsOrigins, ["*"])
      assert.deepStrictEqual((yield* read({})).corsOrigins, [])
    }))
})
