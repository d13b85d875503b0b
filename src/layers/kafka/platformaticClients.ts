/**
 * What the layer's clients (admin, producer, consumers) are made with: @platformatic/kafka itself,
 * loaded with the layer (platformatic.ts), and the options they share.
 */
import { type KafkaSecurity, platformaticSecurity } from "./security.ts"

/** The library's module, as the layer loaded it. */
export type Platformatic = typeof import("@platformatic/kafka")

/** The options every client starts from: the brokers, the client id, TLS and SASL (ADR-54). */
export const clientBase = (brokers: ReadonlyArray<string>, clientId: string, security: KafkaSecurity | undefined) => {
  const bootstrapBrokers = [...brokers]
  return { clientId, bootstrapBrokers, retries: 8, retryDelay: 250, ...platformaticSecurity(security, bootstrapBrokers) }
}

export type ClientBase = ReturnType<typeof clientBase>
