import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit } from "effect"
import { fromEnv, InvalidServerConfig, parseTrustedProxies } from "../../../src/layers/http/config.ts"
import { clientOf } from "../../../src/layers/http/forwarded.ts"

const proxies = (text: string) => {
  const parsed = parseTrustedProxies(text)
  if (parsed instanceof InvalidServerConfig) throw parsed
  return parsed
}

describe("the client behind trusted proxies (clientOf)", () => {
  const lb = proxies("10.0.0.0/8, fd00::/8")
  const xff = (peer: string, value: string | undefined) => clientOf(peer, "x-forwarded-for", value, lb)

  it("the right-most address that is not a trusted proxy, never the left-most the client wrote", () => {
    assert.strictEqual(xff("10.0.0.1", "203.0.113.7"), "203.0.113.7")
    assert.strictEqual(xff("10.0.0.1", "6.6.6.6, 203.0.113.7"), "203.0.113.7")
    // Two proxies: the second's address is passed.
    assert.strictEqual(xff("10.0.0.1", "6.6.6.6, 203.0.113.7, 10.0.0.9"), "203.0.113.7")
    assert.strictEqual(xff("::ffff:10.0.0.1", "2001:db8::1, fd00::5"), "2001:db8::1")
  })

  it("from a peer that is not trusted the header is ignored", () => {
    assert.strictEqual(xff("192.0.2.1", "203.0.113.7"), "192.0.2.1")
    assert.strictEqual(clientOf("10.0.0.1", "x-forwarded-for", "203.0.113.7", []), "10.0.0.1")
  })

  it("addresses with ports or brackets, and IPv4-mapped IPv6, are read as their address", () => {
    assert.strictEqual(xff("10.0.0.1", "203.0.113.7:51234"), "203.0.113.7")
    assert.strictEqual(xff("10.0.0.1", "[2001:db8::1]:443"), "2001:db8::1")
    assert.strictEqual(xff("10.0.0.1", "::ffff:203.0.113.7"), "203.0.113.7")
  })

  it("a hop that is not an address (unknown, garbage) where the walk reaches it leaves the peer; beyond it, it does not matter", () => {
    assert.strictEqual(xff("10.0.0.1", "unknown"), "10.0.0.1")
    assert.strictEqual(xff("10.0.0.1", "203.0.113.7, <script>"), "10.0.0.1")
    assert.strictEqual(xff("10.0.0.1", ""), "10.0.0.1")
    assert.strictEqual(xff("10.0.0.1", undefined), "10.0.0.1")
    // The client's own garbage is left of the address the proxy appended.
    assert.strictEqual(xff("10.0.0.1", "not-an-ip, ,203.0.113.7"), "203.0.113.7")
  })

  it("every hop a trusted proxy: the left-most (a request made from a proxy's own host)", () => {
    assert.strictEqual(xff("10.0.0.1", "10.0.0.7, 10.0.0.9"), "10.0.0.7")
  })

  it("RFC 7239 Forwarded: for= of each element, quoted, bracketed, with ports; other parameters ignored", () => {
    const fwd = (value: string | undefined) => clientOf("10.0.0.1", "forwarded", value, lb)
    assert.strictEqual(fwd("for=192.0.2.43"), "192.0.2.43")
    assert.strictEqual(fwd(`for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.1`), "2001:db8:cafe::17")
    assert.strictEqual(fwd(`For="192.0.2.60:8080" ;proto=http, for=10.0.0.3`), "192.0.2.60")
    // A comma inside a quoted string does not split elements.
    assert.strictEqual(fwd(`for=6.6.6.6;host="a,b", for=198.51.100.1`), "198.51.100.1")
    // Not addresses, or a header that cannot be read as a whole: the peer.
    assert.strictEqual(fwd("for=unknown"), "10.0.0.1")
    assert.strictEqual(fwd("for=_hidden"), "10.0.0.1")
    assert.strictEqual(fwd("proto=https"), "10.0.0.1")
    assert.strictEqual(fwd(`for="[2001:db8::1`), "10.0.0.1")
    assert.strictEqual(fwd(`for="[2001:db8::1]:x"`), "10.0.0.1")
  })
})

describe("K2_API_TRUSTED_PROXIES", () => {
  it("addresses, networks, loopback and private; each address a network of its own", () => {
    const trusted = (peer: string, text: string) => clientOf(peer, "x-forwarded-for", "203.0.113.7", proxies(text)) === "203.0.113.7"
    assert.isTrue(trusted("127.0.0.1", "loopback"))
    assert.isTrue(trusted("::1", "loopback"))
    assert.isTrue(trusted("::ffff:127.0.0.1", "loopback"))
    assert.isTrue(trusted("172.20.1.1", "private"))
    assert.isTrue(trusted("192.0.2.10", " 192.0.2.10 , 2001:db8::/32"))
    assert.isFalse(trusted("192.0.2.11", "192.0.2.10"))
    assert.isTrue(trusted("2001:db8:1::1", "2001:db8::/32"))
    assert.isFalse(trusted("2001:db9::1", "2001:db8::/32"))
    assert.deepStrictEqual(proxies(""), [])
  })

  it("an entry that is none of these is refused, naming it", () => {
    for (const [text, says] of [["10.0.0.0/33", "prefix length"], ["10.1.2.3/8", "host bits"], ["proxy.internal", "proxy.internal"], ["localhost", "loopback"]] as const) {
      const bad = parseTrustedProxies(text)
      assert.instanceOf(bad, InvalidServerConfig, text)
      assert.include((bad as InvalidServerConfig).message, "K2_API_TRUSTED_PROXIES", text)
      assert.include((bad as InvalidServerConfig).message, says, text)
    }
  })

  const read = (env: Record<string, string>) =>
    Effect.runSyncExit(fromEnv.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord({ K2_API_AUTH: "off", ...env }))))

  it("K2_API_CLIENT_ADDRESS_HEADER: x-forwarded-for (the default) or forwarded, and only with trusted proxies", () => {
    const ok = read({ K2_API_TRUSTED_PROXIES: "loopback", K2_API_CLIENT_ADDRESS_HEADER: "Forwarded" })
    assert.isTrue(Exit.isSuccess(ok) && ok.value.clientAddressHeader === "forwarded")
    const byDefault = read({})
    assert.isTrue(Exit.isSuccess(byDefault) && byDefault.value.clientAddressHeader === "x-forwarded-for" && byDefault.value.trustedProxies.length === 0)
    for (const env of [{ K2_API_TRUSTED_PROXIES: "loopback", K2_API_CLIENT_ADDRESS_HEADER: "x-real-ip" }, { K2_API_CLIENT_ADDRESS_HEADER: "forwarded" }]) {
      const exit = read(env)
      assert.isTrue(Exit.isFailure(exit), JSON.stringify(env))
      assert.include(String(exit), "K2_API_CLIENT_ADDRESS_HEADER")
    }
  })
})
