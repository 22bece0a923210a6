// An independent federation gateway over the subgraphs, with none of the
// project's router code: Apollo Gateway, or Hive Gateway (its JavaScript
// runtime, composed with The Guild's federation-composition). Each composes
// the SDL the subgraphs advertise (`_service { sdl }`) and plans every request
// itself. It forwards the caller's Authorization header and nothing else, so
// the subgraphs treat it as the untrusted gateway it is; with GATEWAY_TOKEN
// set (a token with scope `gateway`, as `supergraph token` mints) it also
// presents that in `x-gateway-token`, as our router does, so that a benchmark
// compares gateways the subgraphs trust alike.
// Usage: node gateway.mjs <apollo|hive> <name=url>...
// Prints the gateway's URL once it serves; stops when its stdin closes.
// `node gateway.mjs supergraph <name=url>...` prints the supergraph Apollo's
// composition makes of the same SDL, for Apollo Router (`router --supergraph`).
import { createServer } from 'node:http';
import { parse } from 'graphql';

const [kind, ...args] = process.argv.slice(2);
const gatewayToken = process.env.GATEWAY_TOKEN;
const subgraphs = args.map((arg) => {
  const [name, url] = arg.split('=');
  return { name, url };
});

async function apolloGateway() {
  const { ApolloServer } = await import('@apollo/server');
  const { startStandaloneServer } = await import('@apollo/server/standalone');
  const { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } = await import('@apollo/gateway');
  class ForwardAuthorization extends RemoteGraphQLDataSource {
    willSendRequest({ request, context }) {
      if (context.authorization) request.http.headers.set('authorization', context.authorization);
      if (gatewayToken) request.http.headers.set('x-gateway-token', gatewayToken);
    }
  }
  const gateway = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({ subgraphs }),
    buildService: ({ url }) => new ForwardAuthorization({ url }),
  });
  const server = new ApolloServer({ gateway });
  const { url } = await startStandaloneServer(server, {
    listen: { host: '127.0.0.1', port: 0 },
    context: async ({ req }) => ({ authorization: req.headers.authorization }),
  });
  return url;
}

/** Each subgraph's name, URL and the SDL it advertises. */
async function advertised() {
  const services = [];
  for (const { name, url } of subgraphs) {
    const answer = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ _service { sdl } }' }),
    }).then((response) => response.json());
    services.push({ name, url, typeDefs: parse(answer.data._service.sdl) });
  }
  return services;
}

async function apolloSupergraph() {
  const { composeServices } = await import('@apollo/composition');
  const composed = composeServices(await advertised());
  if (composed.errors?.length) throw new Error(composed.errors.map((e) => e.message).join('\n'));
  console.log(composed.supergraphSdl);
  process.exit(0);
}

async function hiveGateway() {
  const { composeServices } = await import('@theguild/federation-composition');
  const { createGatewayRuntime } = await import('@graphql-hive/gateway-runtime');
  const composed = composeServices(await advertised());
  if (composed.errors?.length) throw new Error(composed.errors.map((e) => e.message).join('\n'));
  const gateway = createGatewayRuntime({
    supergraph: composed.supergraphSdl,
    logging: process.env.GATEWAY_LOG === "1",
    propagateHeaders: {
      fromClientToSubgraphs: ({ request }) => ({
        authorization: request.headers.get('authorization'),
        ...(gatewayToken ? { 'x-gateway-token': gatewayToken } : {}),
      }),
    },
  });
  const server = createServer(gateway);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${server.address().port}/graphql`;
}

if (kind === 'supergraph') await apolloSupergraph();
const url = kind === 'apollo' ? await apolloGateway() : await hiveGateway();
console.log(url);
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
