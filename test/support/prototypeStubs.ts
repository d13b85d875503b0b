/**
 * Methods replaced on a class's prototype for the length of a test, restored after it: the
 * Kafka layers construct their clients themselves, so the clients' network methods are stubbed there.
 * Call once at a test file's top level (it registers the restoring `afterEach`).
 */
import { afterEach } from "@effect/vitest"

export const prototypeStubs = () => {
  const restores: Array<() => void> = []
  afterEach(() => {
    while (restores.length > 0) restores.pop()!()
  })
  return <T extends object, K extends keyof T>(proto: T, name: K, impl: T[K]) => {
    const had = Object.hasOwn(proto, name)
    const before = proto[name]
    Object.defineProperty(proto, name, { value: impl, configurable: true, writable: true })
    restores.push(() => {
      if (had) Object.defineProperty(proto, name, { value: before, configurable: true, writable: true })
      else delete (proto as Record<PropertyKey, unknown>)[name as PropertyKey]
    })
  }
}
