/**
 * A program's telemetry in one layer: the logger (./logging.ts), OTLP traces when configured
 * (./tracing.ts), and, for long-running programs, the process metrics (./process.ts). Metrics
 * live in the process-wide Effect registry (./metrics.ts).
 */
import { Layer } from "effect"
import { loggingLayer } from "./logging.ts"
import * as ProcessMetrics from "./process.ts"
import { tracingLayer } from "./tracing.ts"

export const layer = (service: string, options: { readonly processMetrics?: boolean } = {}) => {
  const logging = loggingLayer(service)
  return Layer.mergeAll(
    logging,
    // Its start-up warnings go through the program's logger (stderr), not Effect's default (stdout).
    tracingLayer(service).pipe(Layer.provide(logging)),
    options.processMetrics === true ? ProcessMetrics.layer : Layer.empty
  )
}
