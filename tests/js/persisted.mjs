// Apollo Client sending the storefront's Categories query as Apollo
// documents it for persisted query lists: ids from the manifest
// (router-config/trusted-documents.json), never the query text.
// Usage: node persisted.mjs <graphql url>
// Prints "sent an id and no query" for each request made that way, then
// "categories: N"; exits 1 on an error.
import { readFileSync } from 'node:fs';
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { generatePersistedQueryIdsFromManifest } from '@apollo/persisted-query-lists';

const [url] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(new URL('../../router-config/trusted-documents.json', import.meta.url)));

async function recordingFetch(input, init) {
  const body = JSON.parse(init.body);
  if (body.extensions?.persistedQuery?.sha256Hash && body.query === undefined) console.log('sent an id and no query');
  return fetch(input, init);
}

const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: new PersistedQueryLink(generatePersistedQueryIdsFromManifest({ loadManifest: async () => manifest })).concat(
    new HttpLink({ uri: url, fetch: recordingFetch }),
  ),
});

try {
  const { data, error } = await client.query({ query: gql`query Categories { categories { slug name productCount } }` });
  if (error) throw error;
  console.log(`categories: ${data.categories.length}`);
} catch (error) {
  console.error(error);
  process.exit(1);
}
