import { assert, describe, it } from "@effect/vitest"
import kafkajs from "kafkajs"
import { assignRoundRobin, type GroupAssignment, kafkajsAssigner, platformaticAssigner } from "../../../src/layers/kafka/assignor.ts"

const counts = new Map([["k2.trades.asx", 3], ["k2.trades.cme", 2]])

/** topic:partition -> the members holding it. */
const holders = (assignment: GroupAssignment) => {
  const out = new Map<string, Array<string>>()
  for (const [member, byTopic] of assignment) {
    for (const [topic, partitions] of byTopic) {
      for (const p of partitions) out.set(`${topic}:${p}`, [...(out.get(`${topic}:${p}`) ?? []), member])
    }
  }
  return out
}

/** Every partition of every subscribed topic held by exactly one member, which subscribes to it. */
const assertExactlyOnceAmongSubscribers = (
  assignment: GroupAssignment,
  members: ReadonlyArray<{ memberId: string; topics: ReadonlyArray<string> }>
) => {
  const held = holders(assignment)
  const subscribed = new Set(members.flatMap((m) => m.topics))
  const expected = [...subscribed].flatMap((t) => Array.from({ length: counts.get(t)! }, (_, p) => `${t}:${p}`)).sort()
  assert.deepStrictEqual([...held.keys()].sort(), expected)
  for (const [tp, who] of held) {
    assert.strictEqual(who.length, 1, `${tp} held by ${who.join(", ")}`)
    const topic = tp.slice(0, tp.lastIndexOf(":"))
    assert.isTrue(members.find((m) => m.memberId === who[0])!.topics.includes(topic), `${who[0]} holds ${tp} without subscribing`)
  }
}

const mixed = [
  // The leader (first in join order) subscribes to one topic only.
  { memberId: "m-b", topics: ["k2.trades.cme"] },
  { memberId: "m-a", topics: ["k2.trades.asx"] }
]
const upgrading = [
  { memberId: "m-old", topics: ["k2.trades.asx"] },
  { memberId: "m-new", topics: ["k2.trades.asx", "k2.trades.cme"] }
]

describe("group assignment", () => {
  it("gives each partition to exactly one of its subscribers", () => {
    for (const members of [mixed, upgrading]) assertExactlyOnceAmongSubscribers(assignRoundRobin(members, counts), members)
  })

  it("spreads a topic evenly when everyone subscribes to it", () => {
    const assignment = assignRoundRobin([{ memberId: "x", topics: ["k2.trades.asx"] }, { memberId: "y", topics: ["k2.trades.asx"] }], counts)
    assert.deepStrictEqual(assignment.get("x")!.get("k2.trades.asx"), [0, 2])
    assert.deepStrictEqual(assignment.get("y")!.get("k2.trades.asx"), [1])
  })

  it("platformatic: the leader assigns other members' topics to them, not its own to everyone", () => {
    for (const members of [mixed, upgrading]) {
      const leader = members[0]!
      const result = platformaticAssigner(
        leader.memberId,
        new Map(members.map((m) => [m.memberId, { memberId: m.memberId, version: 0, topics: [...m.topics] }])),
        new Set(leader.topics),
        { topics: new Map([...counts].map(([t, n]) => [t, { partitionsCount: n }])) } as never
      )
      const assignment: GroupAssignment = new Map(
        result.map((r) => [r.memberId, new Map([...r.assignments.values()].map((a) => [a.topic, a.partitions]))])
      )
      assertExactlyOnceAmongSubscribers(assignment, members)
    }
  })

  it("kafkajs: the leader assigns other members' topics to them, not its own to everyone", async () => {
    for (const members of [mixed, upgrading]) {
      const tracked = new Set<string>()
      const cluster = {
        addMultipleTargetTopics: async (topics: Array<string>) => void topics.forEach((t) => tracked.add(t)),
        // Like kafkajs: metadata only of the topics this client tracks.
        findTopicPartitionMetadata: (topic: string) =>
          tracked.has(topic) ? Array.from({ length: counts.get(topic)! }, (_, partitionId) => ({ partitionId })) : []
      }
      members[0]!.topics.forEach((t) => tracked.add(t))
      const assigner = kafkajsAssigner(kafkajs)({ cluster, groupId: "g", logger: undefined } as never)
      const result = await assigner.assign({
        members: members.map((m) => ({
          memberId: m.memberId,
          memberMetadata: kafkajs.AssignerProtocol.MemberMetadata.encode({ version: 0, topics: [...m.topics], userData: Buffer.alloc(0) })
        })),
        topics: [...members[0]!.topics]
      })
      const assignment: GroupAssignment = new Map(members.map((m) => [m.memberId, new Map()]))
      for (const r of result) {
        const decoded = kafkajs.AssignerProtocol.MemberAssignment.decode(r.memberAssignment)!
        assignment.set(r.memberId, new Map(Object.entries(decoded.assignment).map(([t, ps]) => [t, [...ps]])))
      }
      assertExactlyOnceAmongSubscribers(assignment, members)
    }
  })
})
