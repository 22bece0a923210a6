// Places N orders for one sku through the router, 16 at a time, retrying each
// with its idempotency key until answered (as a storefront does after a
// dropped connection); then waits until every order settles. For
// scripts/checkout-under-kill.sh.
const [url, token, sku, n] = [process.argv[2], process.argv[3], process.argv[4], Number(process.argv[5])];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function gql(query, variables) {
  for (;;) {
    try {
      const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
      const body = await r.json();
      if (!body.errors && body.data) return body.data;
      process.stderr.write(`retry (errors): ${JSON.stringify(body.errors).slice(0, 160)}\n`);
    } catch (e) { process.stderr.write(`retry (${e.cause?.code ?? e.message})\n`); }
    await sleep(300);
  }
}
const carts = [];
for (let i = 0; i < n; i++) {
  const c = (await gql('mutation { createCart { cart { id } } }', {})).createCart.cart.id;
  await gql('mutation ($c: ID!, $s: ID!) { addCartLine(cartId: $c, sku: $s, quantity: 1) { userErrors { code } } }', { c, s: sku });
  carts.push(c);
}
console.log(`carts ready`);
const ids = [];
let next = 0;
await Promise.all(Array.from({ length: 16 }, async () => {
  while (next < carts.length) {
    const c = carts[next++];
    const d = await gql('mutation ($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id } userErrors { code } } }', { i: { cartId: c, idempotencyKey: c, paymentToken: 'tok_visa' } });
    if (!d.placeOrder.order) throw new Error(JSON.stringify(d));
    ids.push(d.placeOrder.order.id);
  }
}));
console.log(`placed ${ids.length} orders (${new Set(ids).size} distinct)`);
const deadline = Date.now() + 180000;
const counts = {};
for (const id of ids) {
  for (;;) {
    const s = (await gql('query ($id: ID!) { order(id: $id) { status } }', { id })).order.status;
    if (s !== 'PENDING' || Date.now() > deadline) { counts[s] = (counts[s] ?? 0) + 1; break; }
    await sleep(200);
  }
}
console.log(JSON.stringify(counts));
