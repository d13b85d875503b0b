/** The subscriber's onAssign / onRevoke run from the client's callbacks, their failure a CallbackFailed. */
import { type Context, Effect } from "effect"
import { CallbackFailed, kafkaError } from "../../services/KafkaSource.ts"

export type CallbackRun<E, R> = <A>(effect: Effect.Effect<A, E, R>, callback: "onAssign" | "onRevoke") => Promise<A>

export const callbackRunner = <E, R>(context: Context.Context<R>): CallbackRun<E, R> => (effect, callback) =>
  Effect.runPromiseWith(context)(
    effect.pipe(Effect.mapError((cause) => kafkaError(new CallbackFailed({ callback, cause }))))
  )
