/** A failed file operation of the ASX load as a FeedError: SourceMissing for ENOENT, else FeedIoFailure. */
import { FeedError, FeedIoFailure, SourceMissing } from "../../domain/feeds/events.ts"

export const ioError = (p: string, cause: unknown): FeedError => {
  const err = cause as NodeJS.ErrnoException
  return new FeedError({
    reason: err?.code === "ENOENT"
      ? new SourceMissing({ path: p })
      : new FeedIoFailure({ path: p, detail: err?.message ?? String(cause) })
  })
}

export const guard = async <A>(p: string, f: () => Promise<A>): Promise<A> => {
  try {
    return await f()
  } catch (cause) {
    throw ioError(p, cause)
  }
}
