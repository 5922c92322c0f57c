#!/usr/bin/env bash
# `make test-engine-current`: the end-to-end suite against Docker 29 as the host's engine.
# Builds it if needed (scripts/engine/build-current.sh), tries it next to the host's engine
# (scripts/engine/smoke.sh), swaps it in (scripts/engine/use.sh current), brings the stack up
# on it (make up MONITORING=1, as make e2e), imports the test image into it, runs the e2e
# files of test/e2e/engine-suite.txt with the engine's own docker CLI, and ALWAYS swaps Debian's
# engine back in at the end (on failure and on Ctrl-C too; with --force, so that networks a
# failed test left in the current engine do not keep the host on it). Exits with the suite's
# status (or the swap back's, if the suite passed and that failed).
set -euo pipefail
LOG_TAG=dovesnap-test-engine
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
# shellcheck source=scripts/engine/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SCRIPTS="${REPO_ROOT}/scripts"
SUITE="not run"
START="${SECONDS}"

swap_back() {
  local rc=$? back=0
  trap - EXIT INT TERM
  log "swapping Debian's engine back in"
  "${SCRIPTS}/engine/use.sh" debian --force || back=$?
  if [[ "${back}" -ne 0 ]]; then
    warn "the swap back to Debian's engine failed (exit ${back}): the host may still run Docker ${CURRENT_DOCKER_VERSION}; run scripts/engine/use.sh debian"
    [[ "${rc}" -ne 0 ]] || rc="${back}"
  fi
  log "e2e suite against Docker ${CURRENT_DOCKER_VERSION}: ${SUITE}; exit ${rc} after $((SECONDS - START))s"
  exit "${rc}"
}

main() {
  local status=0
  require_root test-engine-current
  "${SCRIPTS}/engine/build-current.sh"
  # A build that cannot run containers fails here, next to the host's engine, before any swap.
  "${SCRIPTS}/engine/smoke.sh"
  "${SCRIPTS}/build.sh"
  # From here on, whatever happens, Debian's engine comes back.
  trap swap_back EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  "${SCRIPTS}/engine/use.sh" current
  # The engine's own docker CLI first in PATH from here on, for the scripts (the e2e harness
  # finds it in the file use.sh wrote): Docker 29.0 refused the API version of Debian's 20.10
  # client. The directory holds only the client: Debian's dockerd, started by the swap back,
  # finds no containerd or runc of 29 in PATH.
  export PATH="${CURRENT_CLIENT_DIR}:${PATH}"
  MONITORING=1 "${SCRIPTS}/up.sh"
  "${SCRIPTS}/build-test-image.sh"
  "${SCRIPTS}/install-test-deps.sh"
  # The engine-dependent end-to-end files (test/e2e/engine-suite.txt); the rest ran on Debian's
  # engine in make test, and behave the same under any engine.
  "${SCRIPTS}/run-tests.sh" engine || status=$?
  SUITE="exit ${status}"
  return "${status}"
}

main "$@"
