#!/usr/bin/env bash
# A fault run, not a test: the five subgraphs and the router as separate
# processes on PostgreSQL + NATS (ports 4000-4005, so not beside `cargo run`),
# 300 orders racing for 100 units, and inventory and orders killed with
# `kill -9` four times while they are placed. Passes when exactly 100 orders
# are CONFIRMED with their payments authorized, the other 200 REJECTED with
# none left authorized, every unit sold and none reserved, and no dead letter.
# Drops its databases and NATS stream when done. Needs `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/supergraph
work=$(mktemp -d)
run=killrun_$$
export EVENT_BUS=nats://127.0.0.1:4222 EVENT_NAMESPACE=$run
pg=postgres://postgres@127.0.0.1:5432
sql() { psql -h 127.0.0.1 -U postgres -d "${run}_$1" -Atc "$2"; }
declare -A port=([products]=4001 [inventory]=4002 [cart]=4003 [orders]=4004 [reviews]=4005)
start() {
  DATABASE_URL=$pg/${run}_$1 PORT=${port[$1]} RUST_LOG=warn $bin subgraph "$1" >> "$work/$1.log" 2>&1 &
  echo $! > "$work/$1.pid"
}
cleanup() {
  for process in router products inventory cart orders reviews; do
    [ -f "$work/$process.pid" ] && kill "$(cat "$work/$process.pid")" 2>/dev/null || true
  done
  sleep 3
  for s in products inventory cart orders reviews; do psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS ${run}_$s WITH (FORCE)"; done
  # The JetStream API over NATS's text protocol: no client needed.
  exec 3<>/dev/tcp/127.0.0.1/4222
  printf 'CONNECT {"verbose":false}\r\nPUB $JS.API.STREAM.DELETE.%s 0\r\n\r\nPING\r\n' "${run^^}" >&3
  timeout 2 grep -q PONG <&3 || true
  rm -rf "$work"
}
trap cleanup EXIT

for s in products inventory cart orders reviews; do psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE ${run}_$s"; start $s; done
sleep 3
PRODUCTS_DATABASE_URL=$pg/${run}_products INVENTORY_DATABASE_URL=$pg/${run}_inventory REVIEWS_DATABASE_URL=$pg/${run}_reviews \
  $bin seed --products 20 > "$work/seed.log" 2>&1
PRODUCTS_URL=http://127.0.0.1:4001/graphql INVENTORY_URL=http://127.0.0.1:4002/graphql CART_URL=http://127.0.0.1:4003/graphql \
  ORDERS_URL=http://127.0.0.1:4004/graphql REVIEWS_URL=http://127.0.0.1:4005/graphql RATE_LIMIT_PER_MINUTE=1000000000 \
  $bin router > "$work/router.log" 2>&1 &
echo $! > "$work/router.pid"
sleep 4
sku=$(sql inventory "SELECT sku FROM stock_levels ORDER BY sku LIMIT 1")
sql inventory "UPDATE stock_levels SET on_hand = 100, reserved = 0 WHERE sku = '$sku'" > /dev/null
token=$($bin token --sub kill-run-shopper)
node scripts/checkout-load.mjs http://127.0.0.1:4000/graphql "$token" "$sku" 300 > "$work/load.out" 2> "$work/load.err" &
load=$!
until grep -q "carts ready" "$work/load.out"; do sleep 0.5; done
for round in 1 2 3 4; do
  sleep "0.$((RANDOM % 9 + 1))"
  for s in inventory orders; do kill -9 "$(cat "$work/$s.pid")"; done
  echo "round $round: inventory and orders killed"
  sleep 1
  for s in inventory orders; do start $s; done
done
wait $load
cat "$work/load.out"
echo "requests retried after a kill: $(grep -c . "$work/load.err" || true)"

confirmed=$(sql orders "SELECT COUNT(*) FROM orders WHERE status = 'CONFIRMED'")
rejected=$(sql orders "SELECT COUNT(*) FROM orders WHERE status = 'REJECTED'")
authorized=$(sql orders "SELECT COUNT(*) FROM sandbox_payments p JOIN orders o ON o.id = p.order_id WHERE o.status = 'CONFIRMED' AND p.status = 'AUTHORIZED'")
left_authorized=$(sql orders "SELECT COUNT(*) FROM sandbox_payments p JOIN orders o ON o.id = p.order_id WHERE o.status <> 'CONFIRMED' AND p.status = 'AUTHORIZED'")
stock=$(sql inventory "SELECT on_hand || '/' || reserved FROM stock_levels WHERE sku = '$sku'")
dead=0
for s in products inventory cart orders reviews; do dead=$((dead + $(sql $s "SELECT COUNT(*) FROM dead_letters"))); done
echo "confirmed=$confirmed rejected=$rejected authorized=$authorized left_authorized=$left_authorized on_hand/reserved=$stock dead_letters=$dead"
if [ "$confirmed/$rejected/$authorized/$left_authorized/$stock/$dead" = "100/200/100/0/0/0/0" ]; then
  echo PASS
else
  echo FAIL
  exit 1
fi
