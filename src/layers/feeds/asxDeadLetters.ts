/** The dead-letter file: rejected rows and unread files, one JSON object a line, written as they are flushed. */
import * as fs from "node:fs/promises"
import * as path from "node:path"
import type { DeadLetter } from "../../domain/feeds/events.ts"
import { makeDirectory } from "../directories.ts"
import { guard } from "./asxIoErrors.ts"

export class DeadLetterWriter {
  private pending: Array<string> = []
  readonly file: string
  private readonly handle: fs.FileHandle
  private constructor(file: string, handle: fs.FileHandle) {
    this.file = file
    this.handle = handle
  }
  static async open(file: string): Promise<DeadLetterWriter> {
    await guard(file, () => makeDirectory(path.dirname(path.resolve(file))))
    return new DeadLetterWriter(file, await guard(file, () => fs.open(file, "w")))
  }
  add(d: DeadLetter): void {
    this.pending.push(JSON.stringify(d))
  }
  async flush(): Promise<void> {
    if (this.pending.length === 0) return
    const text = this.pending.join("\n") + "\n"
    this.pending = []
    await guard(this.file, () => this.handle.write(text))
  }
  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined)
  }
}
