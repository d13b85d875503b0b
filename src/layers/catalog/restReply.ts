/** An Iceberg REST catalog's answer, as the transport keeps it. */

export interface Reply {
  readonly status: number
  /** The body as received: a table's metadata may be more than a string holds (ADR-77). */
  readonly bytes: Uint8Array
  /** The body as text, decoded when first asked for. */
  readonly text: string
  /** The Location header of a redirect. */
  readonly location?: string | undefined
}

export const replyOf = (status: number, bytes: Uint8Array, location: string | undefined): Reply => {
  let text: string | undefined
  return {
    status,
    bytes,
    location,
    get text() {
      return text ??= new TextDecoder().decode(bytes)
    }
  }
}

/** The first bytes of a body as text, for a message (the whole may be more than a string holds). */
export const opening = (reply: Reply, bytes: number) => new TextDecoder().decode(reply.bytes.subarray(0, bytes))
