/** Unwrapping the codec's decode results in tests, with the reason in the failure message. */
import { Result } from "effect"
import type { WireMessage } from "../../src/domain/avro/codec.ts"
import type { PoisonReason } from "../../src/domain/avro/poisonReasons.ts"

export const ok = (r: Result.Result<WireMessage, PoisonReason>): WireMessage => {
  if (Result.isFailure(r)) throw new Error(`expected success, got ${r.failure._tag}: ${r.failure.message}`)
  return r.success
}

export const poison = (r: Result.Result<WireMessage, PoisonReason>): PoisonReason => {
  if (Result.isSuccess(r)) throw new Error("expected a poison reason")
  return r.failure
}
