#!/usr/bin/env bash
# bench/run.sh — end-to-end load benchmark of `komand serve` on loopback.
#
# Builds komand and the load generator, starts the server on a free
# loopback port with a temp data dir (SQLite), bootstraps a tenant, an owner
# and an API key through the CLI, creates a few agents, and drives
# authenticated GET /api/agents/ load:
#
#   closed loop  max throughput, BENCH_CONCURRENCY workers
#   open loop    fixed schedule at each of BENCH_RATES req/s (default
#                "1000 2000"), latency from the scheduled send time (no
#                coordinated omission)
#   me           closed loop on GET /api/auth/me (auth + rate limit only)
#
# then measures process start → ready over BENCH_STARTS starts. With
# KOMAND_TEST_POSTGRES_DSN set, everything runs a second time on a fresh
# PostgreSQL database that it creates and drops. Server and load generator
# are pinned to different CPUs with taskset when there are at least two.
# Everything listens on 127.0.0.1 only; each load is bounded by time
# (BENCH_DURATION) and by request count (BENCH_MAX_REQUESTS). Default total
# run time is about 1 minute per store plus the build (under 3 minutes).
#
# Prints a markdown table at the end. Raw JSON results and server logs are
# kept in $BENCH_OUT (default: a temp dir, printed at the end).
set -euo pipefail

cd "$(dirname "$0")/.."

# bench/run.sh attack: the end-to-end prompt-injection attack benchmark
# (bench/agentattack) instead of the load benchmark: prints its tables and
# exits non-zero if any attack succeeded.
if [[ "${1:-}" == "attack" ]]; then
	exec go test ./bench/agentattack -count=1 -run TestAgentAttack -v -args -report
fi

DURATION=${BENCH_DURATION:-10s}
ME_DURATION=${BENCH_ME_DURATION:-5s}
WARMUP=${BENCH_WARMUP:-2s}
CONCURRENCY=${BENCH_CONCURRENCY:-16}
RATES=${BENCH_RATES:-1000 2000}
OPEN_CONCURRENCY=${BENCH_OPEN_CONCURRENCY:-64}
STARTS=${BENCH_STARTS:-10}
MAX_REQUESTS=${BENCH_MAX_REQUESTS:-1000000}
AGENTS=${BENCH_AGENTS:-5}

work=$(mktemp -d "${TMPDIR:-/tmp}/komand-bench.XXXXXX")
out=${BENCH_OUT:-$work/out}
mkdir -p "$out"
server_pid=""
pg_dsn=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

stop_server() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=""
}

cleanup() {
	stop_server
	if [[ -n "$pg_dsn" ]]; then
		"$work/pgdb" drop "$pg_dsn" || log "could not drop the benchmark database"
		pg_dsn=""
	fi
	# Keep only the results: data dirs and binaries go.
	rm -rf "$work/sqlite" "$work/postgres" "$work/komand" "$work/loadgen" "$work/startup" "$work/pgdb"
	if [[ -n "${BENCH_OUT:-}" ]]; then
		rmdir "$work" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# json_field JSON KEY → the value of a top-level number or string field.
json_field() {
	sed -n 's/.*"'"$2"'":"\{0,1\}\([^,"}]*\).*/\1/p' <<<"$1"
}

# Pinning: server on CPU 0, load generator on CPU 1.
SERVER_PIN=()
LOAD_PIN=()
pinning="no"
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
	SERVER_PIN=(taskset -c 0)
	LOAD_PIN=(taskset -c 1)
	pinning="server→CPU0, loadgen→CPU1"
fi

cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
log "machine: ${cpu_model:-unknown}, $(nproc) CPUs, $(go version | cut -d' ' -f3-), load average $(cut -d' ' -f1-3 /proc/loadavg)"

log "building komand, loadgen, startup, pgdb into $work"
go build -o "$work/komand" ./cmd/komand
go build -o "$work/loadgen" ./bench/loadgen
go build -o "$work/startup" ./bench/startup
go build -o "$work/pgdb" ./bench/pgdb

# Configuration shared by the server and the CLI. The API limit is raised
# so that rate limiting never cuts the load.
export RateLimits__ApiPermitLimit=1000000
export Environment=Production
unset ConnectionStrings__Komand ConnectionStrings__Redis 2>/dev/null || true

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

rows=()

# run_store KIND DATADIR — one full run against a fresh store.
run_store() {
	local kind=$1 dir=$2
	mkdir -p "$dir"
	local cli=("$work/komand")
	log "[$kind] bootstrapping tenant, owner and API key through the CLI"
	"${cli[@]}" tenants create bench --name "Bench" --data-dir "$dir" >/dev/null
	printf '%s\n' "bench-password-$(date +%s%N)" |
		"${cli[@]}" users create --tenant bench --email bench@example.com --role owner --name "Bench Owner" \
			--password-stdin --data-dir "$dir" >/dev/null
	local key
	key=$("${cli[@]}" apikeys create --tenant bench --email bench@example.com --name loadgen --data-dir "$dir" 2>>"$out/cli-$kind.log")

	log "[$kind] starting komand serve (${SERVER_PIN[*]:-unpinned})"
	"${SERVER_PIN[@]}" "$work/komand" serve --data-dir "$dir" --addr 127.0.0.1:0 2>"$out/server-$kind.log" &
	server_pid=$!
	local addr=""
	for _ in $(seq 300); do
		addr=$(sed -n 's/.*"msg":"komand ready".*"addr":"\([^"]*\)".*/\1/p' "$out/server-$kind.log" | head -1)
		[[ -n "$addr" ]] && break
		kill -0 "$server_pid" 2>/dev/null || { cat "$out/server-$kind.log" >&2; return 1; }
		sleep 0.05
	done
	[[ -n "$addr" ]] || { log "server did not become ready"; return 1; }
	case "$addr" in 127.0.0.1:*) ;; *) log "server is not on loopback: $addr"; return 1 ;; esac
	local base="http://$addr"
	log "[$kind] ready on $addr; creating $AGENTS agents"
	for i in $(seq "$AGENTS"); do
		curl -fsS -o /dev/null -X POST "$base/api/agents/" -H "Authorization: Bearer $key" \
			-H 'Content-Type: application/json' \
			-d "{\"agentId\":\"bench-agent-$i\",\"name\":\"Bench agent $i\",\"description\":\"load test\",\"enabledSkillIds\":[\"web-search\"],\"allowedChannels\":[\"WebChat\",\"Slack\"]}"
	done

	# load NAME PATH WARMUP loadgen-args… — an unmeasured closed-loop
	# warm-up, then one measured load; records the server's CPU time
	# (user+system, from /proc) per measured request.
	load() {
		local name=$1 path=$2 warm=$3
		shift 3
		if [[ "$warm" != 0 ]]; then
			timeout 60 "${LOAD_PIN[@]}" "$work/loadgen" -url "$base$path" -key "$key" \
				-duration "$warm" -concurrency "$CONCURRENCY" >/dev/null
		fi
		local t0 t1 res
		t0=$(cpu_ticks "$server_pid")
		res=$(timeout 120 "${LOAD_PIN[@]}" "$work/loadgen" -url "$base$path" -key "$key" \
			-max-requests "$MAX_REQUESTS" "$@")
		t1=$(cpu_ticks "$server_pid")
		echo "$res" >"$out/$kind-${name//[^A-Za-z0-9=_-]/_}.json"
		local reqs cpu_us
		reqs=$(json_field "$res" requests)
		cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$clk_tck" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.0f", d / hz * 1e6 / n; else print "-" }')
		log "[$kind] $name: $res"
		rows+=("| $kind | $name | $(json_field "$res" rps) | $(json_field "$res" p50_ms) | $(json_field "$res" p99_ms) | $(json_field "$res" p999_ms) | $(json_field "$res" errors) | $reqs | $cpu_us |")
	}
	log "[$kind] closed loop: $CONCURRENCY workers, $DURATION (after $WARMUP warm-up)"
	load "agents closed c=$CONCURRENCY" /api/agents/ "$WARMUP" -duration "$DURATION" -concurrency "$CONCURRENCY"
	local rate
	for rate in $RATES; do
		log "[$kind] open loop: $rate req/s, $DURATION, ≤$OPEN_CONCURRENCY in flight"
		load "agents open ${rate}/s" /api/agents/ 1s -duration "$DURATION" -rate "$rate" -concurrency "$OPEN_CONCURRENCY"
	done
	log "[$kind] closed loop on /api/auth/me: $CONCURRENCY workers, $ME_DURATION"
	load "me closed c=$CONCURRENCY" /api/auth/me 1s -duration "$ME_DURATION" -concurrency "$CONCURRENCY"
	stop_server

	log "[$kind] $STARTS starts → ready (unpinned)"
	local st
	st=$(timeout 180 "$work/startup" -n "$STARTS" -- "$work/komand" serve --data-dir "$dir")
	echo "$st" >"$out/$kind-startup.json"
	log "[$kind] startup: $st"
	startup_rows+=("| $kind | $STARTS | $(json_field "$st" startup_ms_median) | $(json_field "$st" ready_line_ms_median) | $(json_field "$st" health_ms_median) | $(json_field "$st" health_ms_min) – $(json_field "$st" health_ms_max) |")
}

startup_rows=()
run_store sqlite "$work/sqlite"

if [[ -n "${KOMAND_TEST_POSTGRES_DSN:-}" ]]; then
	pg_dsn=$("$work/pgdb" create)
	log "created PostgreSQL database ${pg_dsn##*/}"
	export ConnectionStrings__Komand="$pg_dsn"
	run_store postgres "$work/postgres"
	unset ConnectionStrings__Komand
	"$work/pgdb" drop "$pg_dsn"
	log "dropped PostgreSQL database"
	pg_dsn=""
else
	log "KOMAND_TEST_POSTGRES_DSN is not set: PostgreSQL run skipped"
fi

cat <<EOF

## komand serve on loopback

Machine: ${cpu_model:-unknown}, $(nproc) CPUs, $(go version | cut -d' ' -f3-); pinning: $pinning; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)

| store | load | req/s | p50 ms | p99 ms | p99.9 ms | errors | requests | server CPU µs/req |
|---|---|---:|---:|---:|---:|---:|---:|---:|
$(printf '%s\n' "${rows[@]}")

| store | starts | startup_ms (log, median) | exec → ready line ms (median) | exec → first 200 /health ms (median) | /health min – max ms |
|---|---:|---:|---:|---:|---:|
$(printf '%s\n' "${startup_rows[@]}")

Raw results and server logs: $out
EOF
