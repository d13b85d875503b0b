/**
 * The in-memory broker: MemoryLog's topics (memoryLog.ts) with consumer groups (memoryGroups.ts)
 * beside them: committed offsets, what they let go of, how far behind the slowest group is, and
 * rebalances when members join or leave or a consumed topic is created, grown or deleted.
 */
import { tpKey } from "../../services/KafkaSource.ts"
import { type MemGroup, rebalanceRound } from "./memoryGroups.ts"
import { MemoryLog } from "./memoryLog.ts"

export class MemoryBroker extends MemoryLog {
  readonly groups = new Map<string, MemGroup>()
  private nextMember = 0

  /**
   * Deletes the topic and, as a broker does, every group's committed offsets of it. Groups
   * consuming it rebalance: their members give its partitions up, as clients do when it leaves
   * their metadata (kept, they would read a topic created again under the name from the old positions).
   */
  deleteTopic(name: string): void {
    const t = this.topic(name)
    for (const g of this.groups.values()) {
      for (let p = 0; p < t.partitions.length; p++) g.committed.delete(tpKey(name, p))
    }
    this.topics.delete(name)
    this.topicChanged(name)
  }

  /** Drop the partition's records below every group's committed offset (none while a group has none). */
  release(topic: string, partition: number): void {
    const t = this.topics.get(topic)
    if (t === undefined || t.partitions[partition] === undefined) return
    let upTo = this.endOffset(topic, partition)
    for (const g of this.groups.values()) {
      const c = g.committed.get(tpKey(topic, partition))
      if (c === undefined) return
      upTo = Math.min(upTo, Number(c))
    }
    this.deleteRecords(topic, partition, upTo)
  }

  /**
   * Records of the topic its slowest live group (one with a member subscribed to it) has not
   * reached: past both its committed offset and its members' fetch positions, so a consumer that
   * seeked ahead (resuming from a table's marker) holds no producer back. 0 while no group
   * consumes the topic, so a producer never waits for a consumer that is not there.
   */
  backlog(topic: string): number {
    const t = this.topics.get(topic)
    if (t === undefined) return 0
    const live = [...this.groups.values()].filter((g) => g.members.some((m) => m.topics.includes(topic)))
    if (live.length === 0) return 0
    let n = 0
    for (let p = 0; p < t.partitions.length; p++) {
      const key = tpKey(topic, p)
      const base = t.base[p]!
      const reached = (g: MemGroup) => {
        let at = Number(g.committed.get(key) ?? base)
        for (const m of g.members) at = Math.max(at, Number(m.core.fetchPosition(key) ?? at))
        return at
      }
      const slowest = Math.min(...live.map(reached))
      n += Math.max(0, base + t.partitions[p]!.length - Math.max(slowest, base))
    }
    return n
  }

  group(groupId: string): MemGroup {
    let g = this.groups.get(groupId)
    if (g === undefined) {
      g = { committed: new Map(), members: [], rebalancing: Promise.resolve() }
      this.groups.set(groupId, g)
    }
    return g
  }

  memberId(): string {
    return `member-${String(this.nextMember++).padStart(6, "0")}`
  }

  /**
   * `topic` was created, grown or deleted: every group consuming it rebalances, as clients do when
   * a metadata refresh shows its new partitions (otherwise nobody would ever read them) or none.
   */
  topicChanged(topic: string): void {
    for (const [groupId, g] of this.groups) {
      if (g.members.some((m) => m.topics.includes(topic))) void this.rebalance(groupId)
    }
  }

  /** Recompute the group's assignment: revoke first (and wait), then assign. */
  rebalance(groupId: string): Promise<void> {
    const g = this.group(groupId)
    const step = () => rebalanceRound(this, g)
    g.rebalancing = g.rebalancing.then(step, step)
    return g.rebalancing
  }
}
