#!/usr/bin/env bash
# Builds the Iceberg interop harness (target/classes + target/lib). Skips Maven when the
# build stamp is newer than the pom and every source file, so repeated test runs stay fast.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp="$dir/target/.built"
if [[ -f "$stamp" && -z "$(find "$dir/pom.xml" "$dir/src" -newer "$stamp" -print -quit)" ]]; then
  exit 0
fi
mvn -q -B -f "$dir/pom.xml" package -DskipTests
touch "$stamp"
