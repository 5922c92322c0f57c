#!/usr/bin/env bash
# Run the compiled tests under the given dist/test subdirectories (default: all of dist/test)
# in ONE `node --test` invocation, so that one summary is printed. Exits non-zero on failure.
#   scripts/run-tests.sh [unit contract e2e ...]
#   scripts/run-tests.sh engine     the end-to-end files listed in test/e2e/engine-suite.txt
#
# The files are listed explicitly rather than passing the directory: given a directory, Node 20
# runs every .js file below a folder named "test" (so dist/test/fakes/*.js and fixtures would
# run as test files too), not just *.test.js.
#
# After node's TAP summary it prints the time each file took (test/support/file-times.ts), then
# one plain line "tests: N passed, N failed, N skipped", so that the budget and the result are
# both the last thing a CI log shows.
set -euo pipefail
LOG_TAG=dovesnap-test
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ENGINE_SUITE=test/e2e/engine-suite.txt

# The files of the engine suite: one e2e test name a line (without .test.ts), # comments.
engine_suite_files() {
  local name
  while read -r name; do
    name="${name%%#*}"
    name="${name//[[:space:]]/}"
    [[ -n "${name}" ]] || continue
    [[ -f "dist/test/e2e/${name}.test.js" ]] || die "${ENGINE_SUITE} names ${name}, but dist/test/e2e/${name}.test.js does not exist"
    printf 'dist/test/e2e/%s.test.js\n' "${name}"
  done <"${ENGINE_SUITE}"
}

summary_count() {
  local what="$1" file="$2"
  { grep -oP "^# ${what} \\K[0-9]+" "${file}" || echo 0; } | tail -n 1
}

main() {
  local roots=() files=() sub status=0 pass fail skipped
  cd "${REPO_ROOT}"
  if [[ "${1:-}" == engine ]]; then
    mapfile -t files < <(engine_suite_files)
    roots=("${ENGINE_SUITE}")
  elif [[ $# -eq 0 ]]; then
    roots=(dist/test)
  else
    for sub in "$@"; do roots+=("dist/test/${sub}"); done
  fi
  for sub in "${roots[@]}"; do
    [[ "${sub}" != "${ENGINE_SUITE}" ]] || continue
    [[ -d "${sub}" ]] || { warn "${sub} does not exist (not built, or no such tests yet)"; continue; }
    mapfile -t -O "${#files[@]}" files < <(find "${sub}" -type f -name '*.test.js' | LC_ALL=C sort)
  done
  [[ ${#files[@]} -gt 0 ]] || die "no *.test.js files under ${roots[*]}: nothing would be tested"
  mkdir -p .tmp
  local tap=.tmp/test-run.tap times=.tmp/test-times.txt
  rm -f "${times}"
  log "running ${#files[@]} test files under ${roots[*]} in one node --test run"
  node --test --test-concurrency=1 \
    --test-reporter=tap --test-reporter-destination=stdout \
    --test-reporter="${REPO_ROOT}/dist/test/support/file-times-reporter.js" --test-reporter-destination="${times}" \
    "${files[@]}" | tee "${tap}" || status=$?
  [[ ! -f "${times}" ]] || cat "${times}"
  local counts
  counts="$(summary_count pass "${tap}") $(summary_count fail "${tap}") $(summary_count skipped "${tap}")"
  # .ci/run adds up the runs of one CI pass from here (DOVESNAP_TEST_COUNTS).
  [[ -z "${DOVESNAP_TEST_COUNTS:-}" ]] || printf '%s\n' "${counts}" >>"${DOVESNAP_TEST_COUNTS}"
  read -r pass fail skipped <<<"${counts}"
  printf 'tests: %s passed, %s failed, %s skipped\n' "${pass}" "${fail}" "${skipped}"
  return "${status}"
}

main "$@"
