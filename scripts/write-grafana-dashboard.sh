#!/usr/bin/env bash
# Write deploy/grafana/dovesnap.json from its definition, src/monitoring/dashboard.ts (typed with
# Grafana's schema). Run after changing the definition; a unit test fails while the two differ.
set -euo pipefail
LOG_TAG=dovesnap-dashboard
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "${REPO_ROOT}"
scripts/build.sh
node --input-type=module -e \
  'import { dashboardJson } from "./dist/src/monitoring/dashboard.js"; process.stdout.write(dashboardJson());' \
  >deploy/grafana/dovesnap.json.tmp
mv -f deploy/grafana/dovesnap.json.tmp deploy/grafana/dovesnap.json
log "wrote deploy/grafana/dovesnap.json"
