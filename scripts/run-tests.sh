#!/usr/bin/env bash
# Run the compiled tests under the given dist/test subdirectories (default: all of dist/test)
# in ONE `node --test` invocation, so that one summary is printed. Exits non-zero on failure.
#   scripts/run-tests.sh [unit contract e2e ...]
#
# The files are listed explicitly rather than passing the directory: given a directory, Node 20
# runs every .js file below a folder named "test" (so dist/test/fakes/*.js and fixtures would
# run as test files too), not just *.test.js.
set -euo pipefail
LOG_TAG=dovesnap-test
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  local roots=() files=() sub
  cd "${REPO_ROOT}"
  if [[ $# -eq 0 ]]; then
    roots=(dist/test)
  else
    for sub in "$@"; do roots+=("dist/test/${sub}"); done
  fi
  for sub in "${roots[@]}"; do
    [[ -d "${sub}" ]] || { warn "${sub} does not exist (not built, or no such tests yet)"; continue; }
    mapfile -t -O "${#files[@]}" files < <(find "${sub}" -type f -name '*.test.js' | LC_ALL=C sort)
  done
  [[ ${#files[@]} -gt 0 ]] || die "no *.test.js files under ${roots[*]}: nothing would be tested"
  log "running ${#files[@]} test files under ${roots[*]} in one node --test run"
  exec node --test --test-concurrency=1 "${files[@]}"
}

main "$@"
