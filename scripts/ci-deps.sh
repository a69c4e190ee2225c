#!/usr/bin/env bash
# Debian packages the test suites need beyond what the machine image ships.
#
#   kcat   an independent Kafka consumer (librdkafka, not kafkajs): the bridge tests read the
#          topic with it so that "what the bridge produced" is not checked by the same library
#          that produced it.
#   chromium  the browser suite (test/browser) drives Debian's Chromium with playwright-core;
#          no browser is ever downloaded by a test tool.
#
# Tools that the image normally has (Java, Maven, Redis, Postgres client/server) are listed too,
# so that a bare Debian machine gets them as well; each one is installed only when its command is
# missing. Idempotent: a machine that has everything runs no apt command at all.
set -euo pipefail

# command → Debian package
declare -A WANT=(
  [kcat]=kcat
  [chromium]=chromium
  [java]=openjdk-17-jre-headless
  [mvn]=maven
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [psql]=postgresql-client
  [pg_ctlcluster]=postgresql
)

missing=()
for cmd in "${!WANT[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${WANT[$cmd]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "ci-deps: all present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ci-deps: missing ${missing[*]}; run as root (apt-get install)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "ci-deps: installing ${missing[*]}"
# Package lists may be absent on a fresh image; update once, then install without prompts.
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
echo "ci-deps: installed ${missing[*]}"
