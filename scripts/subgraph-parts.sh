#!/usr/bin/env bash
# A measurement, not a test: each subgraph's part of the storefront's pages,
# fetched straight from the subgraph by 32 connections for 10 s with wrk
# (Debian's `wrk` package), as the router fetched them when the issue on
# performance was filed (commit 4f3c7b0). The documents ask only for what
# every version of the schema since has, so the same run measures that
# commit's `supergraph dev` and today's side by side. Start one first
# (ports 4000-4005), e.g. `cargo run --release -- dev --data-dir /tmp/parts`;
# the script makes one guest cart there. Prints requests/s, p50 and p99 per part.
set -euo pipefail
router=http://127.0.0.1:4000/graphql
seconds=${SECONDS_PER_PART:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

graphql() { # url, JSON body -> the answer's data, as JSON
  curl -sf "$1" -H 'content-type: application/json' -d "$2" |
    python3 -c 'import json,sys; answer=json.load(sys.stdin); assert "errors" not in answer, answer; print(json.dumps(answer["data"]))'
}
field() { python3 -c "import json,sys; data=json.load(sys.stdin); print($1)"; }

product=$(graphql $router '{"query":"{ products(first: 1) { edges { node { id slug variants { sku } } } } }"}')
id=$(field 'data["products"]["edges"][0]["node"]["id"]' <<< "$product")
slug=$(field 'data["products"]["edges"][0]["node"]["slug"]' <<< "$product")
sku=$(field 'data["products"]["edges"][0]["node"]["variants"][0]["sku"]' <<< "$product")
cart=$(graphql $router '{"query":"mutation { createCart { cart { id } } }"}' | field 'data["createCart"]["cart"]["id"]')
graphql $router "{\"query\":\"mutation { addCartLine(cartId: \\\"$cart\\\", sku: \\\"$sku\\\", quantity: 2) { cart { id } } }\"}" > /dev/null

# name | port | body
parts=(
  "ProductListing: products' part|4001|{\"query\":\"query (\$first: Int) { products(first: \$first) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { __typename id slug name priceRange { min { amount currencyCode } max { amount currencyCode } } } } } }\",\"variables\":{\"first\":24}}"
  "ProductPage: products' part|4001|{\"query\":\"query (\$slug: String!) { product(slug: \$slug) { __typename id slug name description category { slug name } variants { __typename sku name price { amount currencyCode } } } }\",\"variables\":{\"slug\":\"$slug\"}}"
  "ProductPage: inventory's part|4002|{\"query\":\"query (\$representations: [_Any!]!) { _entities(representations: \$representations) { ... on Variant { inStock stock { available } } } }\",\"variables\":{\"representations\":[{\"__typename\":\"Variant\",\"sku\":\"$sku\"}]}}"
  "ProductPage: reviews' part|4005|{\"query\":\"query (\$representations: [_Any!]!) { _entities(representations: \$representations) { ... on Product { rating { average count } reviews(first: 5) { totalCount pageInfo { hasNextPage endCursor } edges { node { id rating title body authorName verifiedPurchase createdAt } } } } } }\",\"variables\":{\"representations\":[{\"__typename\":\"Product\",\"id\":\"$id\"}]}}"
  "Cart: cart's part|4003|{\"query\":\"query (\$id: ID!) { cart(id: \$id) { id itemCount lines { id quantity variant { __typename sku } } } }\",\"variables\":{\"id\":\"$cart\"}}"
)

echo "| subgraph part | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
for part in "${parts[@]}"; do
  IFS='|' read -r name port body <<< "$part"
  url=http://127.0.0.1:$port/graphql
  graphql "$url" "$body" > /dev/null   # answered without errors before it is measured
  printf 'wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\nwrk.body = [==[%s]==]\n' "$body" > "$work/part.lua"
  wrk -t1 -c32 -d"${seconds}s" --latency -s "$work/part.lua" "$url" > "$work/wrk.out"
  grep -q 'Non-2xx' "$work/wrk.out" && { echo "$name: some requests were refused" >&2; exit 1; }
  rate=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$work/wrk.out")
  p50=$(awk '$1 == "50%" { print $2 }' "$work/wrk.out")
  p99=$(awk '$1 == "99%" { print $2 }' "$work/wrk.out")
  echo "| $name | $rate | $p50 | $p99 |"
done
