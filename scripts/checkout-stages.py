"""Where the time of a checkout goes, stage by stage, read from the databases
of a running `supergraph bench checkout --backend postgres` (they are removed
when it ends, so run this during its measured phase). Each stage is the time
between two timestamps the subgraphs record anyway:

  relay1    order PENDING -> OrderPlaced published (orders' outbox relay)
  deliver1  -> inventory starts applying it (NATS, its consumer's batch)
  relay2    -> InventoryReserved published (the reservation, inventory's relay)
  deliver2  -> orders starts applying it
  pay       -> the payment provider is asked to authorize
  settle    -> order CONFIRMED
  relay3    -> OrderConfirmed published (what a follower on another replica waits for)

Timestamps are milliseconds; an event is stamped published after the broker
acknowledged it, so a relay stage holds its publish and the next stage may
be 0. Usage: python3 scripts/checkout-stages.py (needs psql; connects to
PostgreSQL at 127.0.0.1:5432 as postgres).
"""

import datetime
import json
import statistics
import subprocess
import sys


def rows(database, sql):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-AtF", "\t", "-c", sql],
        capture_output=True, text=True, check=True,
    ).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def millis(stamp):
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000


def events(database, event_type):
    """Each event of `event_type` in the outbox, by its order: (event id, published at)."""
    found = {}
    for event_id, published_at, payload in rows(database, f"SELECT id, published_at, payload FROM outbox WHERE event_type = '{event_type}'"):
        if published_at:
            found[json.loads(payload)["order_id"]] = (event_id, millis(published_at))
    return found


def timeline(database, status):
    return {order_id: millis(at) for order_id, at in rows(database, f"SELECT order_id, at FROM order_timeline WHERE status = '{status}'")}


def processed(database):
    return {event_id: millis(at) for event_id, at in rows(database, "SELECT event_id, processed_at FROM processed_events")}


def main():
    databases = [name for (name,) in rows("postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'bench_%'")]
    orders = [name for name in databases if name.endswith("_orders")]
    inventory = [name for name in databases if name.endswith("_inventory")]
    if len(orders) != 1 or len(inventory) != 1:
        sys.exit(f"expected the databases of one running bench, found {databases}")
    orders, inventory = orders[0], inventory[0]
    pending, confirmed = timeline(orders, "PENDING"), timeline(orders, "CONFIRMED")
    placed, reserved, confirmations = events(orders, "OrderPlaced"), events(inventory, "InventoryReserved"), events(orders, "OrderConfirmed")
    applied_by_inventory, applied_by_orders = processed(inventory), processed(orders)
    authorized = {order_id: millis(at) for order_id, at in rows(orders, "SELECT order_id, at FROM sandbox_payment_calls WHERE operation = 'AUTHORIZE'")}

    stages = []
    for order_id, placed_at in pending.items():
        try:
            placed_id, placed_published = placed[order_id]
            reserved_id, reserved_published = reserved[order_id]
            stamps = [
                placed_at,
                placed_published,
                applied_by_inventory[placed_id],
                reserved_published,
                applied_by_orders[reserved_id],
                authorized[order_id],
                confirmed[order_id],
                confirmations[order_id][1],
            ]
        except KeyError:
            continue  # not settled yet
        stages.append([later - earlier for earlier, later in zip(stamps, stamps[1:])])
    if not stages:
        sys.exit("no order has settled yet")

    names = ["relay1", "deliver1", "relay2", "deliver2", "pay", "settle", "relay3"]
    totals = sorted(sum(stage[:-1]) for stage in stages)
    quantile = lambda values, q: sorted(values)[min(len(values) - 1, int(len(values) * q))]
    print(f"{len(stages)} orders settled; PENDING -> CONFIRMED p50 {quantile(totals, 0.5):.0f} ms, p99 {quantile(totals, 0.99):.0f} ms")
    slowest = sorted(stages, key=lambda stage: sum(stage[:-1]))[int(len(stages) * 0.98):]
    print(f"{'stage':9} {'mean':>6} {'p50':>5} {'p90':>5} {'p99':>5}  slowest 2%'s mean")
    for index, name in enumerate(names):
        values = [stage[index] for stage in stages]
        print(
            f"{name:9} {statistics.mean(values):6.1f} {quantile(values, 0.5):5.0f} {quantile(values, 0.9):5.0f} {quantile(values, 0.99):5.0f}"
            f"  {statistics.mean(stage[index] for stage in slowest):6.1f}"
        )


if __name__ == "__main__":
    main()
