/** K2's version as package.json gives it: `--version`, the OpenAPI document's, the traces' `service.version`. */
import packageJson from "../../package.json" with { type: "json" }

export const K2_VERSION: string = packageJson.version
