/**
 * Apicurio Registry's Confluent-compatible API for integration tests: `ensureSchemaRegistry()`
 * runs `scripts/schema-registry.sh start` (idempotent; the first run downloads the distribution
 * with Maven) and fails loudly when it cannot. K2_TEST_SCHEMA_REGISTRY_URL points the tests at
 * another Confluent-compatible registry.
 */
import { serviceStarter } from "./services.ts"

export const schemaRegistryUrl = process.env.K2_TEST_SCHEMA_REGISTRY_URL ?? "http://127.0.0.1:8081/apis/ccompat/v7"

export const ensureSchemaRegistry = serviceStarter("schema-registry.sh", "the schema registry", "K2_TEST_SCHEMA_REGISTRY_URL")
