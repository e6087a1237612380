#!/usr/bin/env bash
# The local stack: NATS JetStream, PostgreSQL 15, SeaweedFS (S3) and an SMTP sink, all on 127.0.0.1.
#
#   scripts/stack.sh up      start whatever is not running (idempotent), wait until each answers, write .state/env
#   scripts/stack.sh down    stop what `up` started (PostgreSQL only if `up` was the one that started it)
#   scripts/stack.sh status  print each component, up or down, with its address
#
# State lives in the repository's git-ignored .state/: server data, logs and pid files (.state/logs/), and the
# sourceable .state/env with every address. Run scripts/deps.sh (`make deps`) first.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

NATS_BIN="$VENV_DIR/bin/nats-server"
WEED_BIN="$VENV_DIR/bin/weed"
PYTHON_BIN="$VENV_DIR/bin/python"
NATS_CONF="$STATE_DIR/nats.conf"
NATS_STORE="$STATE_DIR/nats"
# The one NATS user of the local stack; its password is made on the first `make up` and kept in this file.
# One NATS user per service role with least-privilege permissions (deploy/nats/auth.conf, rendered by `fiapx nats
# auth-config`); `make run`'s single process is fiapx-all, operators are fiapx-admin. Passwords: one file each.
NATS_AUTH_CONF="$REPO_ROOT/deploy/nats/auth.conf"
NATS_PASSWORDS_DIR="$STATE_DIR/nats-passwords"
NATS_USER=fiapx-all
WEED_DIR="$STATE_DIR/seaweedfs"
WEED_S3_CONF="$STATE_DIR/seaweedfs-s3.json"
SMTP_LOG="$LOG_DIR/smtp.log"
MAIL_DIR="$STATE_DIR/mail"
PG_STARTED_MARK="$STATE_DIR/postgres.started-by-stack"
PG_CONF_DIR="/etc/postgresql/$PG_VERSION/$PG_CLUSTER/conf.d"
PG_LOG="/var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"

# ---------------------------------------------------------------------------------------------------------------
# Background processes we own: NATS, SeaweedFS and the SMTP sink.
#
# Each runs in its own session (setsid) so that Ctrl-C on make does not take it down, with stdin from /dev/null
# and output appended to .state/logs/<name>.log. .state/logs/<name>.pid holds its pid and <name>.spec the exact
# command and configuration it was started with: `up` restarts a server whose spec changed.
# A process is only ever recognised (and signalled) when its command line is the one we would start, so a
# recycled pid or a stranger on the port is never touched.

pid_file() { echo "$LOG_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }
spec_file() { echo "$LOG_DIR/$1.spec"; }

# The argv[0] basename and a string unique to our instance, for each process.
proc_exe() {
  case "$1" in
    nats) echo nats-server ;;
    seaweedfs) echo weed ;;
    smtp) echo python ;;
  esac
}
proc_marker() {
  case "$1" in
    nats) echo "$NATS_CONF" ;;
    seaweedfs) echo "-dir=$WEED_DIR" ;;
    smtp) echo "$SMTP_LOG" ;;
  esac
}

# True when /proc/$2 is our process $1. Builtins only: `running_pid` may scan every process.
is_ours() {
  local name="$1" pid="$2" marker arg
  local -a argv=()
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  { mapfile -d '' -t argv <"/proc/$pid/cmdline"; } 2>/dev/null || return 1
  [[ ${#argv[@]} -gt 0 && "${argv[0]##*/}" == "$(proc_exe "$name")"* ]] || return 1
  marker="$(proc_marker "$name")"
  for arg in "${argv[@]:1}"; do
    [[ "$arg" == *"$marker"* ]] && return 0
  done
  return 1
}

# Prints the pid of our running process $1, if any. Falls back to a scan of /proc when the pid file is gone
# (e.g. .state/logs was removed while the server ran), and rewrites the pid file then.
running_pid() {
  local name="$1" pid dir
  pid="$(cat "$(pid_file "$name")" 2>/dev/null || true)"
  if is_ours "$name" "$pid"; then
    echo "$pid"
    return 0
  fi
  for dir in /proc/[0-9]*; do
    pid="${dir#/proc/}"
    if is_ours "$name" "$pid"; then
      mkdir -p "$LOG_DIR"
      echo "$pid" >"$(pid_file "$name")"
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# start_bg NAME SPEC CMD...: start CMD in the background as NAME.
start_bg() {
  local name="$1" spec="$2"
  shift 2
  mkdir -p "$LOG_DIR"
  printf '\n===== %s: starting %s =====\n' "$(date -u +%FT%TZ)" "$*" >>"$(log_file "$name")"
  setsid "$@" </dev/null >>"$(log_file "$name")" 2>&1 9>&- &
  echo $! >"$(pid_file "$name")"
  printf '%s\n' "$spec" >"$(spec_file "$name")"
}

# stop_bg NAME LABEL: SIGTERM, wait up to 20 s (SeaweedFS takes a few seconds to drain), then SIGKILL.
stop_bg() {
  local name="$1" label="$2" pid
  if ! pid="$(running_pid "$name")"; then
    ok "$label not running"
    rm -f "$(pid_file "$name")"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 80); do
    is_ours "$name" "$pid" || break
    sleep 0.25
  done
  if is_ours "$name" "$pid"; then
    warn "$label (pid $pid) did not exit within 20 s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$(pid_file "$name")"
  ok "$label stopped (pid $pid)"
}

# True while process $1 exists and is not a zombie. Unlike is_ours, also true in the instant between our fork
# and the exec of the server, so a server that is still starting is not taken for one that died.
pid_alive() {
  local stat
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z ]]
}

show_log_tail() {
  local file="$1"
  if [[ -r "$file" ]]; then
    printf -- '----- last 20 lines of %s -----\n' "$file" >&2
    tail -n 20 "$file" >&2
    printf -- '-----\n' >&2
  else
    printf '(no log at %s)\n' "$file" >&2
  fi
}

# wait_ready LABEL LOG CHECK_FN [NAME]: poll CHECK_FN for up to WAIT_SECONDS; fail naming LABEL with its log tail.
# With NAME, also fail at once if that background process has exited.
wait_ready() {
  local label="$1" log="$2" check="$3" name="${4:-}" deadline
  deadline=$((SECONDS + WAIT_SECONDS))
  while ((SECONDS < deadline)); do
    if "$check"; then
      return 0
    fi
    if [[ -n "$name" ]] && ! pid_alive "$(cat "$(pid_file "$name")" 2>/dev/null || true)"; then
      printf '%serror:%s %s exited during start-up\n' "$_red" "$_reset" "$label" >&2
      show_log_tail "$log"
      exit 1
    fi
    sleep 0.25
  done
  printf '%serror:%s %s did not answer within %s s\n' "$_red" "$_reset" "$label" "$WAIT_SECONDS" >&2
  show_log_tail "$log"
  if [[ -n "$name" ]]; then
    # Do not leave a half-started server holding the ports: the next `up` starts afresh.
    local pid
    pid="$(cat "$(pid_file "$name")" 2>/dev/null || true)"
    if pid_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      sleep 2
      pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
      printf 'stopped it (pid %s)\n' "$pid" >&2
    fi
    rm -f "$(pid_file "$name")"
  fi
  exit 1
}

# refuse_foreign_port LABEL PORT...: fail when another program already listens on one of our ports.
refuse_foreign_port() {
  local label="$1" port
  shift
  for port in "$@"; do
    if port_open "$port"; then
      local who=""
      if command -v ss >/dev/null 2>&1; then
        who="$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:.*' | head -n1 || true)"
      fi
      die "cannot start $label: 127.0.0.1:$port is already taken by another program ${who:+($who)}; stop it or change the port"
    fi
  done
}

# ensure_bg NAME LABEL SPEC CHECK_FN PORTS CMD...: start NAME unless it runs with the same SPEC, then wait.
ensure_bg() {
  local name="$1" label="$2" spec="$3" check="$4" ports="$5"
  shift 5
  local pid
  if pid="$(running_pid "$name")"; then
    if [[ "$(cat "$(spec_file "$name")" 2>/dev/null || true)" == "$spec" ]]; then
      wait_ready "$label" "$(log_file "$name")" "$check" "$name"
      ok "$label already running (pid $pid)"
      return 0
    fi
    info "$label configuration changed: restarting"
    stop_bg "$name" "$label"
  fi
  # shellcheck disable=SC2086 # ports is a space-separated list
  refuse_foreign_port "$label" $ports
  start_bg "$name" "$spec" "$@"
  wait_ready "$label" "$(log_file "$name")" "$check" "$name"
  ok "$label started (pid $(cat "$(pid_file "$name")")), log $(log_file "$name")"
}

# ---------------------------------------------------------------------------------------------------------------
# NATS with JetStream.

# A NATS user's password: made once (random, mode 600), then kept, so that a running `make run` and the stack
# agree across `make up`s.
nats_password() {
  local file="$NATS_PASSWORDS_DIR/$1"
  if [[ ! -s $file ]]; then
    (umask 077 && mkdir -p "$NATS_PASSWORDS_DIR" && head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$file")
  fi
  cat "$file"
}

# The users deploy/nats/auth.conf names (fiapx-admin, fiapx-upload, ...).
nats_users() { grep -o 'user: "fiapx-[a-z]*"' "$NATS_AUTH_CONF" | cut -d'"' -f2; }

# The environment variable that gives nats-server a user's password (FIAPX_NATS_PASSWORD_UPLOAD, ...).
nats_password_variable() {
  local role="${1#fiapx-}"
  echo "FIAPX_NATS_PASSWORD_${role^^}"
}

write_nats_conf() {
  mkdir -p "$NATS_STORE"
  cp "$NATS_AUTH_CONF" "$STATE_DIR/nats-auth.conf"
  local tmp="$NATS_CONF.tmp"
  (umask 077 && : >"$tmp")
  cat >"$tmp" <<EOF
# Written by scripts/stack.sh on every \`make up\`; edit the script, not this file.
server_name: fiapx-local
listen: $BIND_IP:$NATS_PORT
http: $BIND_IP:$NATS_MONITOR_PORT

# Clients authenticate, one user per service role (deploy/nats/auth.conf, copied next to this file; the passwords
# come from the environment the stack gives nats-server, kept in .state/nats-passwords/). The monitoring port
# needs none.
include ./nats-auth.conf

jetstream {
  store_dir: "$NATS_STORE"
  max_memory_store: 256MB
  max_file_store: 8GB
}
EOF
  mv "$tmp" "$NATS_CONF"
}

nats_ready() { curl -sf -o /dev/null "http://$BIND_IP:$NATS_MONITOR_PORT/healthz?js-enabled-only=true"; }

up_nats() {
  write_nats_conf
  local user
  for user in $(nats_users); do
    export "$(nats_password_variable "$user")=$(nats_password "$user")"
  done
  local cmd=("$NATS_BIN" -c "$NATS_CONF")
  local spec
  spec="$(printf '%s\n' "${cmd[*]}" && cat "$NATS_CONF" "$NATS_AUTH_CONF" | sha256sum)"
  ensure_bg nats "NATS (nats://$BIND_IP:$NATS_PORT)" "$spec" nats_ready "$NATS_PORT $NATS_MONITOR_PORT" "${cmd[@]}"
}

# ---------------------------------------------------------------------------------------------------------------
# SeaweedFS: `weed mini`, S3 on $S3_PORT with one identity from FIAPX_S3_ACCESS_KEY / FIAPX_S3_SECRET_KEY.

write_weed_s3_conf() {
  mkdir -p "$WEED_DIR"
  local tmp="$WEED_S3_CONF.tmp"
  (
    umask 077
    cat >"$tmp" <<EOF
{
  "identities": [
    {
      "name": "fiapx",
      "credentials": [{ "accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY" }],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
EOF
  )
  mv "$tmp" "$WEED_S3_CONF"
}

weed_command() {
  # -ip / -ip.bind: its defaults advertise a public address and bind every interface.
  # -master.telemetry=false: it would otherwise post statistics to an outside server.
  WEED_CMD=(
    "$WEED_BIN" mini
    "-dir=$WEED_DIR"
    "-ip=$BIND_IP" "-ip.bind=$BIND_IP"
    -master.telemetry=false
    "-master.port=$WEED_MASTER_PORT" "-master.port.grpc=$WEED_MASTER_GRPC_PORT"
    "-volume.port=$WEED_VOLUME_PORT" "-volume.port.grpc=$WEED_VOLUME_GRPC_PORT"
    "-filer.port=$WEED_FILER_PORT" "-filer.port.grpc=$WEED_FILER_GRPC_PORT"
    "-s3.port=$S3_PORT" "-s3.port.grpc=$S3_GRPC_PORT"
    -s3.port.iceberg=0 -s3.port.lance=0
    "-s3.config=$WEED_S3_CONF"
    -webdav=false
    # Every bucket is a collection with volumes of its own (tests make one per test). Left at 0, the volume
    # limit is derived from the free disk space divided by the volume size, and a build-heavy disk leaves room
    # for only a few: then no new bucket can take a write. Volumes are sparse files, so a fixed count is safe.
    -volume.max=256
    -admin.ui=false "-admin.port=$WEED_ADMIN_PORT" "-admin.port.grpc=$WEED_ADMIN_GRPC_PORT"
  )
}

weed_ready() { curl -sf -o /dev/null "http://$BIND_IP:$S3_PORT/healthz"; }

# A signed ListBuckets (curl's built-in SigV4): proves the credentials in .state/env are the ones S3 accepts.
weed_check_credentials() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "http://$BIND_IP:$S3_PORT/" || true)"
  if [[ "$code" != 200 ]]; then
    printf '%serror:%s SeaweedFS S3 answers but rejects a signed request with the configured key (HTTP %s)\n' \
      "$_red" "$_reset" "$code" >&2
    show_log_tail "$(log_file seaweedfs)"
    exit 1
  fi
}

up_seaweedfs() {
  write_weed_s3_conf
  weed_command
  local spec
  spec="$(printf '%s\n' "${WEED_CMD[*]}" && sha256sum <"$WEED_S3_CONF")"
  ensure_bg seaweedfs "SeaweedFS S3 (http://$BIND_IP:$S3_PORT)" "$spec" weed_ready \
    "$S3_PORT $S3_GRPC_PORT $WEED_MASTER_PORT $WEED_MASTER_GRPC_PORT $WEED_VOLUME_PORT $WEED_VOLUME_GRPC_PORT $WEED_FILER_PORT $WEED_FILER_GRPC_PORT $WEED_ADMIN_PORT $WEED_ADMIN_GRPC_PORT" \
    "${WEED_CMD[@]}"
  weed_check_credentials
}

# ---------------------------------------------------------------------------------------------------------------
# SMTP sink.

smtp_ready() {
  local line
  (
    exec 3<>"/dev/tcp/$BIND_IP/$SMTP_PORT" || exit 1
    IFS= read -r -t 2 line <&3 || exit 1
    printf 'QUIT\r\n' >&3
    [[ "$line" == 220* ]]
  ) 2>/dev/null
}

up_smtp() {
  local cmd=("$PYTHON_BIN" -u "$REPO_ROOT/scripts/smtp_sink.py" --host "$BIND_IP" --port "$SMTP_PORT"
    --log "$SMTP_LOG" --mail-dir "$MAIL_DIR")
  local spec
  spec="$(printf '%s\n' "${cmd[*]}" && sha256sum <"$REPO_ROOT/scripts/smtp_sink.py")"
  ensure_bg smtp "SMTP sink (smtp://$BIND_IP:$SMTP_PORT)" "$spec" smtp_ready "$SMTP_PORT" "${cmd[@]}"
}

# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL 15 from Debian: cluster 15/main, loopback only, role and database fiapx.

pg_ready() { pg_isready -q -h "$BIND_IP" -p "$PG_PORT" -t 1 >/dev/null 2>&1; }

# By pg_lsclusters, not the directory: pg_dropcluster leaves our conf.d file (and so the directory) behind.
pg_cluster_exists() {
  pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c { found = 1 } END { exit !found }'
}

pg_cluster_online() {
  pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c { print $4 }' |
    grep -q online
}

# Our settings go in conf.d (Debian's postgresql.conf includes it last, so they win; pg_lsclusters and pg_ctlcluster
# read it too). listen_addresses is written quoted by hand: pg_conftool writes it unquoted and the server refuses
# it. The port is set because Debian gives a cluster created while 5432 was taken the next free port (5433).
write_pg_conf() {
  local want
  want="# Written by fiapx scripts/stack.sh: the local stack listens on loopback only, on the port in .state/env.
listen_addresses = '$BIND_IP'
port = $PG_PORT"
  if [[ "$(as_root cat "$PG_CONF_DIR/fiapx.conf" 2>/dev/null || true)" == "$want" ]]; then
    return 1
  fi
  as_root install -d -o postgres -g postgres "$PG_CONF_DIR"
  printf '%s\n' "$want" | as_root tee "$PG_CONF_DIR/fiapx.conf" >/dev/null
  as_root chown postgres:postgres "$PG_CONF_DIR/fiapx.conf"
  return 0
}

psql_admin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@"; }

ensure_pg_role_and_db() {
  # CREATEDB: integration tests create a database per test.
  psql_admin <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SQL
  if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" != 1 ]]; then
    psql_admin -c "CREATE DATABASE $PG_DB OWNER $PG_USER"
  fi
}

up_postgres() {
  local label="PostgreSQL $PG_VERSION (postgres://$BIND_IP:$PG_PORT)"
  command -v pg_ctlcluster >/dev/null 2>&1 || die "PostgreSQL is not installed: run \`make deps\`"
  if pg_ready && ! pg_cluster_online; then
    ok "$label: reusing the server already answering on port $PG_PORT (not cluster $PG_VERSION/$PG_CLUSTER)"
  else
    if ! pg_cluster_exists; then
      info "creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER"
      as_root pg_createcluster -p "$PG_PORT" "$PG_VERSION" "$PG_CLUSTER" >/dev/null
    fi
    local conf_changed=0
    if write_pg_conf; then conf_changed=1; fi
    if pg_cluster_online; then
      if [[ $conf_changed -eq 1 ]]; then
        if [[ -f "$PG_STARTED_MARK" ]]; then
          info "PostgreSQL settings in $PG_CONF_DIR/fiapx.conf changed: restarting the cluster"
          as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" restart 9>&-
        else
          warn "wrote $PG_CONF_DIR/fiapx.conf; it applies once the cluster restarts (make up did not start it," \
            "so it leaves that to you: pg_ctlcluster $PG_VERSION $PG_CLUSTER restart)"
        fi
      fi
      wait_ready "$label" "$PG_LOG" pg_ready
      ok "$label already running"
    else
      # /run is a tmpfs: the socket directory may be gone after a reboot or in a fresh container.
      as_root install -d -m 2775 -o postgres -g postgres /var/run/postgresql
      as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start 9>&- ||
        {
          printf '%serror:%s pg_ctlcluster %s %s start failed\n' "$_red" "$_reset" "$PG_VERSION" "$PG_CLUSTER" >&2
          show_log_tail "$PG_LOG"
          exit 1
        }
      touch "$PG_STARTED_MARK"
      wait_ready "$label" "$PG_LOG" pg_ready
      ok "$label started"
    fi
  fi
  ensure_pg_role_and_db
  PGPASSWORD="$PG_PASSWORD" psql -X -q -h "$BIND_IP" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -tAc 'SELECT 1' >/dev/null ||
    die "PostgreSQL is up but role $PG_USER cannot log in to database $PG_DB over TCP (check pg_hba.conf)"
  ok "PostgreSQL role $PG_USER (LOGIN CREATEDB) and database $PG_DB ready"
}

down_postgres() {
  if [[ ! -f "$PG_STARTED_MARK" ]]; then
    ok "PostgreSQL left as it was (not started by make up)"
    return 0
  fi
  if pg_cluster_online; then
    as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop
    ok "PostgreSQL $PG_VERSION/$PG_CLUSTER stopped"
  else
    ok "PostgreSQL $PG_VERSION/$PG_CLUSTER not running"
  fi
  rm -f "$PG_STARTED_MARK"
}

# ---------------------------------------------------------------------------------------------------------------

write_env() {
  local tmp="$ENV_FILE.tmp"
  (umask 077 && : >"$tmp")
  cat >"$tmp" <<EOF
# Written by scripts/stack.sh (make up): addresses of the local stack. Source it: . .state/env
export FIAPX_NATS_URL=nats://$BIND_IP:$NATS_PORT
export FIAPX_NATS_USER=$NATS_USER
export FIAPX_NATS_PASSWORD=$(nats_password "$NATS_USER")
export FIAPX_NATS_SERVER_BIN=$NATS_BIN
export FIAPX_DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@$BIND_IP:$PG_PORT/$PG_DB
export FIAPX_S3_ENDPOINT=http://$BIND_IP:$S3_PORT
export FIAPX_S3_REGION=$S3_REGION
export FIAPX_S3_ACCESS_KEY=$S3_ACCESS_KEY
export FIAPX_S3_SECRET_KEY=$S3_SECRET_KEY
export FIAPX_SMTP_URL=smtp://$BIND_IP:$SMTP_PORT
EOF
  mv "$tmp" "$ENV_FILE"
}

require_deps() {
  local bin
  for bin in "$NATS_BIN" "$WEED_BIN" "$PYTHON_BIN"; do
    [[ -x "$bin" ]] || die "$bin is missing: run \`make deps\` (or scripts/deps.sh) first"
  done
  command -v curl >/dev/null 2>&1 || die "curl is missing: run \`make deps\` first"
}

cmd_up() {
  require_deps
  mkdir -p "$STATE_DIR" "$LOG_DIR"
  info "local stack"
  up_nats
  up_postgres
  up_seaweedfs
  up_smtp
  write_env
  ok "addresses written to $ENV_FILE"
}

cmd_down() {
  info "stopping the local stack"
  stop_bg smtp "SMTP sink"
  stop_bg seaweedfs "SeaweedFS"
  stop_bg nats "NATS"
  down_postgres
}

status_line() {
  local label="$1" address="$2" up="$3" extra="${4:-}"
  if [[ "$up" == 1 ]]; then
    printf '  %-12s %sup%s    %-45s %s\n' "$label" "$_green" "$_reset" "$address" "$extra"
  else
    printf '  %-12s %sdown%s  %-45s %s\n' "$label" "$_red" "$_reset" "$address" "$extra"
  fi
}

cmd_status() {
  local pid up
  info "local stack (state in $STATE_DIR)"

  up=0 pid=""
  if pid="$(running_pid nats)" && nats_ready; then up=1; fi
  status_line NATS "nats://$BIND_IP:$NATS_PORT" "$up" "${pid:+pid $pid, }monitor http://$BIND_IP:$NATS_MONITOR_PORT"

  up=0
  if pg_ready; then up=1; fi
  local who=""
  if [[ -f "$PG_STARTED_MARK" ]]; then
    who=", started by make up"
  elif [[ $up == 1 ]]; then
    who=", not started by make up (make down leaves it running)"
  fi
  status_line PostgreSQL "postgres://$PG_USER@$BIND_IP:$PG_PORT/$PG_DB" "$up" "cluster $PG_VERSION/$PG_CLUSTER$who"

  up=0 pid=""
  if pid="$(running_pid seaweedfs)" && weed_ready; then up=1; fi
  status_line SeaweedFS "http://$BIND_IP:$S3_PORT" "$up" "${pid:+pid $pid, }S3, region $S3_REGION"

  up=0 pid=""
  if pid="$(running_pid smtp)" && smtp_ready; then up=1; fi
  status_line SMTP "smtp://$BIND_IP:$SMTP_PORT" "$up" "${pid:+pid $pid, }mail in $SMTP_LOG"

  if [[ -f "$ENV_FILE" ]]; then
    echo "  environment: . $ENV_FILE"
  fi
}

case "${1:-}" in
  up)
    take_lock
    cmd_up
    ;;
  down)
    take_lock
    cmd_down
    ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 up|down|status" >&2
    exit 2
    ;;
esac
