#!/usr/bin/env bash
# `npm test`: every check and test suite, starting the services they need.
#
#   0. Debian packages the suites need (scripts/ci-deps.sh; no-op when present)
#   1. typecheck (tsc --noEmit over src, test, bench)
#   2. wrangler deploy --dry-run (the worker bundles and its config is valid)
#   3. unit suites (pure modules, plain Node)                          vitest.unit.config.ts
#      worker suites inside workerd (Workers Vitest integration)       vitest.config.ts, twice:
#        sharded (SHARD_MAX_SOCKETS=3) and unsharded (SHARD_MAX_SOCKETS=0)
#   4. real services up: Redis, Postgres, Kafka (scripts/services.sh)
#   5. Node suites: bridge, end-to-end, client SDK, browser, bench smoke  vitest.node.config.ts
#
# Ends with one line "N passed, N failed" (tests plus the two checks) and exits non-zero on any
# failure. Vitest's JSON reports land in test-artifacts/.
set -uo pipefail
cd "$(dirname "$0")/.."
ART=test-artifacts
mkdir -p "$ART"
rm -f "$ART"/*.json

passed=0
failed=0
check() { # name, command...
  local name=$1
  shift
  echo "==> $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "FAILED: $name"
    failed=$((failed + 1))
  fi
}

count() { # vitest JSON report → adds to totals; a missing report counts as one failure
  local file=$1 name=$2
  if [ ! -s "$file" ]; then
    echo "FAILED: $name produced no report"
    failed=$((failed + 1))
    return
  fi
  read -r p f < <(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    // Suites that fail to load count as failures too.
    const broken = (r.testResults || []).filter((t) => t.status === "failed" && (t.assertionResults || []).length === 0).length;
    console.log(r.numPassedTests, r.numFailedTests + broken);
  ' "$file")
  passed=$((passed + p))
  failed=$((failed + f))
}

# Debian packages the suites need (kcat, Chromium, Java/Maven for Kafka): installed when missing
# and running as root; a no-op when present. Without them the suites that need them fail and say so.
bash scripts/ci-deps.sh || echo "warning: scripts/ci-deps.sh could not install everything (see above)"

check "typecheck" npx tsc --noEmit -p tsconfig.json
check "wrangler deploy --dry-run" npx wrangler deploy --dry-run --outdir .cache/dry-run

echo "==> unit suites (pure modules: rules, text, history planning)"
npx vitest run -c vitest.unit.config.ts --reporter=default --reporter=json --outputFile.json="$ART/unit.json"
count "$ART/unit.json" "unit suites"

# The worker suites run twice, unchanged: sharded with 3 sockets per fan-out shard (every path
# crosses shards) and unsharded (the room holds every socket). See vitest.config.ts.
echo "==> worker suites (workerd), sharded: SHARD_MAX_SOCKETS=3"
SHARD_MAX_SOCKETS=3 npx vitest run -c vitest.config.ts --reporter=default --reporter=json --outputFile.json="$ART/worker-sharded.json"
count "$ART/worker-sharded.json" "worker suites (sharded)"

echo "==> worker suites (workerd), unsharded: SHARD_MAX_SOCKETS=0"
SHARD_MAX_SOCKETS=0 npx vitest run -c vitest.config.ts --reporter=default --reporter=json --outputFile.json="$ART/worker.json"
count "$ART/worker.json" "worker suites (unsharded)"

echo "==> services"
if bash scripts/services.sh up; then
  echo "==> Node suites (bridge, e2e, client, browser, bench smoke)"
  npx vitest run -c vitest.node.config.ts --reporter=default --reporter=json --outputFile.json="$ART/node.json"
  count "$ART/node.json" "Node suites"
else
  echo "FAILED: services did not start; Node suites not run"
  failed=$((failed + 1))
fi
if [ "${CI:-}" = "true" ]; then bash scripts/services.sh down >/dev/null 2>&1 || true; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
