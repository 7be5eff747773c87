#!/usr/bin/env bash
# Side-by-side benchmark of sessionfx, alexedwards/scs/v2 and gorilla/sessions.
# Starts PostgreSQL, Redis and MariaDB on loopback when they are down, runs the
# benchmarks (-count 5 by default: BenchmarkScenarios in both settings modes,
# BenchmarkCookieStores, BenchmarkScaleMemory, BenchmarkScaleRedis, BenchmarkScalePostgres), the
# behaviour measurements (cmd/behave: lost updates, idle writes, Redis
# commands), and writes bench/RESULTS.md with medians (cmd/report) and the raw
# output in bench/RESULTS.bench.txt.
#
#   bench/run.sh                                    # full run
#   COUNT=1 BENCHTIME=100ms REPEATS=3 bench/run.sh  # quick run
#   SESSIONFX_BENCH_PG_MILLION=1 bench/run.sh       # also 1,000,000 PostgreSQL rows
#   BENCH='Scenarios/idle=none/S2' bench/run.sh     # a subset (-bench regexp)
set -euo pipefail
cd "$(dirname "$0")"

COUNT="${COUNT:-5}"
BENCHTIME="${BENCHTIME:-1s}"
BENCH="${BENCH:-^Benchmark(Scenarios|CookieStores|ScaleMemory|ScaleRedis|ScalePostgres)\$}"
REPEATS="${REPEATS:-20}"
OUT="${OUT:-RESULTS.md}"
export SESSIONFX_TEST_POSTGRES_DSN="${SESSIONFX_TEST_POSTGRES_DSN:-host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable}"
export SESSIONFX_TEST_REDIS_URL="${SESSIONFX_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
export SESSIONFX_TEST_MYSQL_DSN="${SESSIONFX_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/test?parseTime=true&loc=UTC}"
started_at=$(date +%s)

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 60); do port_open "$2" && return 0; sleep 1; done
  echo "run.sh: $1 on 127.0.0.1:$2 is down and could not be started" >&2
  exit 1
}
if ! port_open 5432; then
  echo "run.sh: starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! port_open 6379; then
  echo "run.sh: starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
if ! port_open 3306; then
  echo "run.sh: starting MariaDB"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
wait_port PostgreSQL 5432
wait_port Redis 6379
wait_port MariaDB 3306

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

rev="$(git rev-parse --short HEAD)"
dirty="$(git -C .. --no-optional-locks status --porcelain --untracked-files=no -- . ':!bench' | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')"
[ -n "$dirty" ] && dirty=" plus uncommitted changes in: $dirty"
cmd="go test -run '^\$' -bench '$BENCH' -benchmem -count $COUNT -benchtime $BENCHTIME -timeout 0 ."
echo "run.sh: $cmd"
eval "$cmd" | tee "$work/bench.txt"
if grep -q '^FAIL' "$work/bench.txt"; then
  echo "run.sh: benchmarks failed" >&2
  exit 1
fi
echo "run.sh: behaviour measurements"
go run ./cmd/behave -repeats "$REPEATS" | tee "$work/behave.md"
elapsed=$(( $(date +%s) - started_at ))

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
machine="- $(nproc) cores, ${cpu}, $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)
- $(go version)
- $(redis-server --version | cut -d' ' -f1-3), $(psql --version 2>/dev/null || echo 'PostgreSQL (psql not found)'), $(mysql --version 2>/dev/null || echo 'MySQL client not found')
- sessionfx at commit ${rev}${dirty} (when the benchmark binary was built)
- run at $(date -u '+%Y-%m-%d %H:%M UTC'), took $((elapsed / 60)) min $((elapsed % 60)) s; other processes were sharing the machine unless stated otherwise"
full="COUNT=$COUNT BENCHTIME=$BENCHTIME BENCH='$BENCH' REPEATS=$REPEATS SESSIONFX_BENCH_PG_MILLION=${SESSIONFX_BENCH_PG_MILLION:-0} bench/run.sh
# runs: $cmd
# then: go run ./cmd/behave -repeats $REPEATS"
go run ./cmd/report -in "$work/bench.txt" -behave "$work/behave.md" -out "$OUT" -machine "$machine" -command "$full"
cp "$work/bench.txt" "${OUT%.md}.bench.txt"
echo "run.sh: wrote bench/$OUT and bench/${OUT%.md}.bench.txt in $((elapsed / 60)) min $((elapsed % 60)) s"
