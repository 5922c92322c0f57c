#!/usr/bin/env bash
# Write schema/lab.schema.json (JSON Schema 2020-12 of the lab file) from its definition,
# src/lab/spec.ts. Run after changing the definition; a unit test fails while the two differ.
set -euo pipefail
LOG_TAG=dovesnap-lab-schema
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "${REPO_ROOT}"
scripts/build.sh
mkdir -p schema
node --input-type=module -e \
  'import { labJsonSchemaText } from "./dist/src/lab/spec.js"; process.stdout.write(labJsonSchemaText());' \
  >schema/lab.schema.json.tmp
mv -f schema/lab.schema.json.tmp schema/lab.schema.json
log "wrote schema/lab.schema.json"
