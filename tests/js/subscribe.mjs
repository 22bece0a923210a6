// Follows one order with a standard client until it is CONFIRMED.
// Usage: node subscribe.mjs <graphql-ws|graphql-sse|apollo-multipart> <http url> <token> <order id>
// Prints each status as it arrives, one per line; exits 0 once CONFIRMED is
// seen, 1 on an error or after 60 s.
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import WebSocket from 'ws';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';

const [transport, url, token, orderId] = process.argv.slice(2);
const query = 'subscription OrderStatus($id: ID!) { orderStatusChanged(orderId: $id) { id status } }';
const variables = { id: orderId };
const authorization = `Bearer ${token}`;

setTimeout(() => {
  console.error('no CONFIRMED within 60 s');
  process.exit(1);
}, 60_000).unref();

function seen(result) {
  if (result.errors?.length) {
    console.error(JSON.stringify(result.errors));
    process.exit(1);
  }
  const status = result.data?.orderStatusChanged?.status;
  if (!status) return false;
  console.log(status);
  return status === 'CONFIRMED';
}

if (transport === 'graphql-ws') {
  const client = createWsClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: { headers: { Authorization: authorization } },
  });
  for await (const result of client.iterate({ query, variables })) {
    if (seen(result)) break;
  }
  await client.dispose();
} else if (transport === 'graphql-sse') {
  const client = createSseClient({ url, singleConnection: false, headers: { Authorization: authorization } });
  for await (const result of client.iterate({ query, variables })) {
    if (seen(result)) break;
  }
  client.dispose();
} else if (transport === 'apollo-multipart') {
  const client = new ApolloClient({ link: new HttpLink({ uri: url, headers: { Authorization: authorization } }), cache: new InMemoryCache() });
  await new Promise((resolve, reject) => {
    const subscription = client.subscribe({ query: gql(query), variables }).subscribe({
      next(result) {
        if (seen(result)) {
          subscription.unsubscribe();
          resolve();
        }
      },
      error: reject,
    });
  });
} else {
  console.error(`unknown transport ${transport}`);
  process.exit(2);
}
process.exit(0);
