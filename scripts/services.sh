#!/usr/bin/env bash
# Local backing services for development and tests: Redis, Postgres and a real Apache Kafka.
#
#   scripts/services.sh up      start whatever is not answering (idempotent), create the schema
#                               and the topic, print the connection settings
#   scripts/services.sh down    stop what `up` started: the Kafka broker, and Redis/Postgres only
#                               if they were not already running (machine services stay up)
#   scripts/services.sh status  what answers, what does not
#   scripts/services.sh env     print the connection settings as `export` lines
#
#   scripts/services.sh kafka-up | kafka-down
#                               just the broker. With KAFKA_INSTANCE=<name> KAFKA_PORT=<p>
#                               KAFKA_CONTROLLER_PORT=<p> a second, independent broker (own data
#                               under .services/kafka-<name>/): the fault tests stop and restart
#                               one of those instead of the broker everybody else is using.
#
# Kafka: the broker jars (org.apache.kafka:kafka_2.13 and its runtime dependencies, plus
# kafka-tools for the topic command) come from Maven Central through Maven into .cache/kafka/
# (reused on later runs); `kafka.Kafka` runs in KRaft combined mode (broker + controller) with its
# storage formatted by `kafka.tools.StorageTool format --standalone`, data and logs under
# .services/kafka/. Works unattended (CI=true, no stdin).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# ---------------------------------------------------------------------------------------------
# Settings (each overridable from the environment)
# ---------------------------------------------------------------------------------------------
REDIS_PORT="${REDIS_PORT:-6379}"
PG_PORT="${PG_PORT:-5432}"
PG_USER="${PG_USER:-postgres}"        # exists in every cluster; trust auth on 127.0.0.1 here
PG_DB="${PG_DB:-test}"
# Tried in order until Maven resolves one; 3.9 is the last 3.x and also knows --standalone.
KAFKA_VERSIONS="${KAFKA_VERSION:-4.4.0 4.3.1 3.9.1}"
KAFKA_TOPIC="${KAFKA_CHAT_TOPIC:-streams.chat}"
KAFKA_TOPIC_PARTITIONS="${KAFKA_TOPIC_PARTITIONS:-3}"
KAFKA_INSTANCE="${KAFKA_INSTANCE:-}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${KAFKA_HEAP:--Xms128m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"

CACHE_DIR="$ROOT/.cache/kafka"
STATE_DIR="$ROOT/.services/kafka${KAFKA_INSTANCE:+-$KAFKA_INSTANCE}"
ENV_FILE="$ROOT/.services/env"

DATABASE_URL="postgres://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"

log() { echo "services: $*"; }
die() { echo "services: ERROR: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }

# `down` stops only what `up` started: Redis and Postgres are often machine services.
STARTED_DIR="$ROOT/.services/started"
mark_started() { mkdir -p "$STARTED_DIR"; echo "${2:-yes}" >"$STARTED_DIR/$1"; }

# A TCP port answers (bash's /dev/tcp, no extra tools).
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------
redis_up() {
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    log "redis already answering on 127.0.0.1:$REDIS_PORT"
    return
  fi
  command -v redis-server >/dev/null || die "redis-server not installed (run scripts/ci-deps.sh)"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 100); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && {
      mark_started redis
      log "redis started on 127.0.0.1:$REDIS_PORT"
      return
    }
    sleep 0.1
  done
  die "redis did not answer on 127.0.0.1:$REDIS_PORT (see /var/log/redis/ci.log)"
}

# ---------------------------------------------------------------------------------------------
# Postgres
# ---------------------------------------------------------------------------------------------
pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" 2>/dev/null; }
psql_q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$@" </dev/null; }

pg_up() {
  if pg_ready; then
    log "postgres already answering on 127.0.0.1:$PG_PORT"
  else
    command -v pg_ctlcluster >/dev/null || die "postgres not installed (run scripts/ci-deps.sh)"
    local version
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    [ -n "$version" ] || die "no postgres cluster under /etc/postgresql"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 100); do pg_ready && break; sleep 0.1; done
    pg_ready || die "postgres did not answer on 127.0.0.1:$PG_PORT"
    mark_started postgres "$version"
    log "postgres $version started on 127.0.0.1:$PG_PORT"
  fi
  if [ "$(psql_q -d postgres -tAc "select 1 from pg_database where datname = '$PG_DB'")" != "1" ]; then
    psql_q -d postgres -c "create database \"$PG_DB\""
    log "created database $PG_DB"
  fi
  psql_q -d "$PG_DB" -f "$ROOT/db/schema.sql"
  log "schema db/schema.sql applied to $PG_DB"
}

# ---------------------------------------------------------------------------------------------
# Kafka: jars from Maven Central
# ---------------------------------------------------------------------------------------------
JAVA_BIN=""
find_java() {
  local candidates=()
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME/bin/java")
  candidates+=("$(command -v java || true)" /usr/lib/jvm/java-17-openjdk-amd64/bin/java
    /usr/lib/jvm/temurin-25-jdk-amd64/bin/java)
  local j major
  for j in "${candidates[@]}"; do
    [ -x "$j" ] || continue
    # "17.0.15" / "25" → 17 / 25; Kafka 4 needs 17 or newer.
    major="$("$j" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/{print $2}')"
    if [ "${major%%.*}" -ge 17 ] 2>/dev/null; then JAVA_BIN="$j"; return; fi
  done
  die "no Java 17+ found (set JAVA_HOME or run scripts/ci-deps.sh)"
}

write_pom() { # version dir
  local v="$1" dir="$2" slf4j_binding
  # Kafka 4 logs through log4j2; 3.x through reload4j. The broker only declares slf4j-api, so the
  # binding is added here (without it every log line is dropped).
  if [ "${v%%.*}" -ge 4 ]; then
    slf4j_binding='<groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.25.5</version>'
  else
    slf4j_binding='<groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version>'
  fi
  cat >"$dir/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by scripts/services.sh: the runtime classpath of a single-node Kafka broker. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.edge-stream-chat</groupId>
  <artifactId>kafka-broker-runtime</artifactId>
  <version>$v</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$v</version></dependency>
    <dependency>$slf4j_binding</dependency>
  </dependencies>
</project>
EOF
}

KAFKA_LIBS=""
KAFKA_RESOLVED=""
kafka_jars() {
  local v dir
  for v in $KAFKA_VERSIONS; do
    dir="$CACHE_DIR/$v"
    if [ -f "$dir/.complete" ]; then
      KAFKA_LIBS="$dir/libs"; KAFKA_RESOLVED="$v"
      log "kafka $v jars from cache (.cache/kafka/$v)"
      return
    fi
  done
  command -v mvn >/dev/null || die "maven not installed (run scripts/ci-deps.sh)"
  for v in $KAFKA_VERSIONS; do
    dir="$CACHE_DIR/$v"
    rm -rf "$dir"; mkdir -p "$dir"
    write_pom "$v" "$dir"
    log "resolving org.apache.kafka:kafka_2.13:$v from Maven Central ..."
    if mvn -B -q -f "$dir/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$dir/libs" </dev/null >"$dir/mvn.log" 2>&1; then
      touch "$dir/.complete"
      KAFKA_LIBS="$dir/libs"; KAFKA_RESOLVED="$v"
      log "kafka $v: $(ls "$dir/libs" | wc -l) jars in .cache/kafka/$v/libs"
      return
    fi
    log "kafka $v could not be resolved (see .cache/kafka/$v/mvn.log), trying the next version"
  done
  die "no Kafka version of [$KAFKA_VERSIONS] could be resolved from Maven Central"
}

# ---------------------------------------------------------------------------------------------
# Kafka: broker
# ---------------------------------------------------------------------------------------------
kafka_java() { # main-class args...
  local main="$1"; shift
  "$JAVA_BIN" -cp "$KAFKA_LIBS/*" \
    -Dlog4j2.configurationFile="$STATE_DIR/log4j2-tools.properties" \
    -Dlog4j.configuration="file:$STATE_DIR/log4j-tools.properties" \
    "$main" "$@"
}

kafka_pid() { # prints the recorded PID if that process is alive and is our broker
  local pid
  [ -f "$STATE_DIR/kafka.pid" ] || return 1
  pid="$(cat "$STATE_DIR/kafka.pid")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka $STATE_DIR/server.properties" || return 1
  echo "$pid"
}

write_kafka_config() {
  mkdir -p "$STATE_DIR/data" "$STATE_DIR/logs"
  cat >"$STATE_DIR/server.properties" <<EOF
# Generated by scripts/services.sh: single-node KRaft (broker + controller), plaintext, loopback.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$STATE_DIR/data
num.partitions=$KAFKA_TOPIC_PARTITIONS
# Topics are created explicitly; a typo in a topic name must fail, not create a topic.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  # Broker log → file (rolled); tools (format, topics) → warnings only, on stderr.
  cat >"$STATE_DIR/log4j2.properties" <<EOF
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $STATE_DIR/logs/server.log
appender.file.filePattern = $STATE_DIR/logs/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
EOF
  cat >"$STATE_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$STATE_DIR/logs/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
  cat >"$STATE_DIR/log4j2-tools.properties" <<EOF
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
  cat >"$STATE_DIR/log4j-tools.properties" <<EOF
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%p %m%n
EOF
}

kafka_format() {
  # Formatted once; the version that formatted it is remembered so that a cache with another
  # version does not silently start on old metadata.
  # The controller's own endpoint is written into the metadata log by --standalone, so a change
  # of version or of ports means a fresh format (this is a disposable dev/test broker).
  local stamp="$KAFKA_RESOLVED $KAFKA_PORT $KAFKA_CONTROLLER_PORT"
  if [ -f "$STATE_DIR/data/meta.properties" ]; then
    if [ "$(cat "$STATE_DIR/formatted-by" 2>/dev/null)" = "$stamp" ]; then return; fi
    log "kafka storage was formatted for another version or ports; reformatting ${STATE_DIR#"$ROOT"/}/data"
    rm -rf "$STATE_DIR/data"; mkdir -p "$STATE_DIR/data"
  fi
  local cluster_id
  # A Kafka Uuid: 16 random bytes, URL-safe base64 without padding (no leading '-').
  cluster_id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | sed 's/^-/A/')"
  kafka_java kafka.tools.StorageTool format --standalone -t "$cluster_id" \
    -c "$STATE_DIR/server.properties" >"$STATE_DIR/logs/format.log" 2>&1 ||
    { cat "$STATE_DIR/logs/format.log" >&2; die "kafka storage format failed"; }
  echo "$stamp" >"$STATE_DIR/formatted-by"
  log "kafka storage formatted (cluster id $cluster_id)"
}

kafka_up() {
  local t0 pid
  t0="$(now_ms)"
  find_java
  kafka_jars
  if pid="$(kafka_pid)"; then
    log "kafka already running (pid $pid) on $KAFKA_BROKERS"
  else
    if port_open "$KAFKA_PORT"; then
      die "127.0.0.1:$KAFKA_PORT is taken by a process this script did not start"
    fi
    write_kafka_config
    kafka_format
    local log_file="$STATE_DIR/logs/server.log" offset=0
    [ -f "$log_file" ] && offset="$(stat -c %s "$log_file")"
    # setsid: the broker gets its own session, so it neither dies with this shell nor receives
    # signals meant for the caller's process group (e.g. a test runner's Ctrl-C).
    # shellcheck disable=SC2086
    setsid "$JAVA_BIN" $KAFKA_HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties" \
      -Dlog4j.configuration="file:$STATE_DIR/log4j.properties" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$STATE_DIR/server.properties" \
      </dev/null >"$STATE_DIR/logs/stdout.log" 2>&1 &
    pid=$!
    echo "$pid" >"$STATE_DIR/kafka.pid"
    local deadline=$(( $(date +%s) + KAFKA_START_TIMEOUT ))
    until tail -c +"$((offset + 1))" "$log_file" 2>/dev/null | grep -q "Kafka Server started"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        tail -n 30 "$log_file" "$STATE_DIR/logs/stdout.log" >&2 || true
        die "kafka exited during start-up (logs in ${STATE_DIR#"$ROOT"/}/logs)"
      fi
      [ "$(date +%s)" -lt "$deadline" ] || die "kafka not ready after ${KAFKA_START_TIMEOUT}s"
      sleep 0.2
    done
    log "kafka $KAFKA_RESOLVED started (pid $pid) on $KAFKA_BROKERS in $(( $(now_ms) - t0 )) ms"
  fi
  # --if-not-exists: exit 0 whether it was created now or before; non-zero when the broker is
  # not usable.
  local out
  out="$(kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" \
    --create --if-not-exists --topic "$KAFKA_TOPIC" \
    --partitions "$KAFKA_TOPIC_PARTITIONS" --replication-factor 1 2>&1)" ||
    { echo "$out" >&2; die "could not create topic $KAFKA_TOPIC"; }
  log "topic $KAFKA_TOPIC ready ($KAFKA_TOPIC_PARTITIONS partitions, RF 1)"
}

kafka_down() {
  local pid
  if ! pid="$(kafka_pid)"; then
    log "kafka${KAFKA_INSTANCE:+ ($KAFKA_INSTANCE)} not running"
    rm -f "$STATE_DIR/kafka.pid"
    return
  fi
  kill -TERM "$pid"
  # A controlled shutdown takes a few seconds; after 30 s it is killed.
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "kafka (pid $pid) did not stop after 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE_DIR/kafka.pid"
  log "kafka${KAFKA_INSTANCE:+ ($KAFKA_INSTANCE)} stopped (pid $pid)"
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
print_env() {
  cat <<EOF
export DATABASE_URL=$DATABASE_URL
export REDIS_URL=$REDIS_URL
export KAFKA_BROKERS=$KAFKA_BROKERS
export KAFKA_CHAT_TOPIC=$KAFKA_TOPIC
export PG_ALLOWED_ADDRS=127.0.0.1:$PG_PORT
EOF
}

cmd_up() {
  local t0
  t0="$(now_ms)"
  redis_up
  pg_up
  kafka_up
  mkdir -p "$ROOT/.services"
  print_env >"$ENV_FILE"
  log "ready in $(( $(now_ms) - t0 )) ms; settings (also in .services/env):"
  print_env | sed 's/^export /  /'
}

cmd_down() {
  kafka_down
  if [ -f "$STARTED_DIR/redis" ]; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    rm -f "$STARTED_DIR/redis"
    log "redis stopped (it was started by up)"
  fi
  if [ -f "$STARTED_DIR/postgres" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(cat "$STARTED_DIR/postgres")" main stop || true
    rm -f "$STARTED_DIR/postgres"
    log "postgres stopped (it was started by up)"
  fi
}

cmd_status() {
  local rc=0
  if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    log "redis     up    $REDIS_URL"; else log "redis     down  $REDIS_URL"; rc=1; fi
  if pg_ready; then log "postgres  up    $DATABASE_URL"; else log "postgres  down  $DATABASE_URL"; rc=1; fi
  local pid
  if pid="$(kafka_pid)"; then log "kafka     up    $KAFKA_BROKERS (pid $pid)"
  else log "kafka     down  $KAFKA_BROKERS"; rc=1; fi
  return "$rc"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) print_env ;;
  kafka-up) kafka_up ;;
  kafka-down) kafka_down ;;
  *)
    echo "usage: $0 up|down|status|env|kafka-up|kafka-down" >&2
    exit 2
    ;;
esac
