/**
 * Sleeps that end early when woken: a fetch loop with nothing to fetch sleeps, and a seek, a
 * resume or new records wake it. A sleep that ends by its timer leaves nothing behind, so an idle
 * loop (no partitions, or all paused) sleeping ten times a second holds no memory.
 */
export class Wakeup {
  private readonly sleepers = new Set<() => void>()

  /** Sleeps in progress. */
  get pending(): number {
    return this.sleepers.size
  }

  wake(): void {
    for (const end of [...this.sleepers]) end()
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer)
        this.sleepers.delete(end)
        resolve()
      }
      const timer = setTimeout(end, ms)
      this.sleepers.add(end)
    })
  }
}
