/**
 * A bounded cache: once the entries' total weight passes `capacity`, the least recently used
 * go first. Weigh by what an entry holds (manifest entries, snapshots) when sizes vary: a count
 * of entries alone lets a few large values take all the memory.
 */
export const lru = <V>(capacity: number, weigh: (value: V) => number = () => 1) => {
  const entries = new Map<string, { readonly value: V; readonly weight: number }>()
  let total = 0
  const remove = (key: string) => {
    const entry = entries.get(key)
    if (entry === undefined) return
    entries.delete(key)
    total -= entry.weight
  }
  return {
    get(key: string): V | undefined {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      entries.delete(key)
      entries.set(key, entry)
      return entry.value
    },
    set(key: string, value: V) {
      remove(key)
      const weight = Math.max(1, weigh(value))
      entries.set(key, { value, weight })
      total += weight
      // The newest entry stays even when it alone weighs more than the capacity.
      while (total > capacity && entries.size > 1) remove(entries.keys().next().value!)
    },
    /** Total weight held, for tests and metrics. */
    get weight() {
      return total
    }
  }
}

export type Lru<V> = ReturnType<typeof lru<V>>
