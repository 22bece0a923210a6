import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, ServerError } from '@apollo/client';
import { SetContextLink } from '@apollo/client/link/context';
import { ErrorLink } from '@apollo/client/link/error';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { generatePersistedQueryIdsFromManifest } from '@apollo/persisted-query-lists';
import { read, subscribe, write } from './session';

// Trusted documents: every operation goes out as the id the router's manifest
// gives its name, never as query text, so a router that accepts ids only
// serves this app. Without `retry: false`, the link would send the text when
// the router does not know an id.
const persistedQueries = new PersistedQueryLink({
  ...generatePersistedQueryIdsFromManifest({
    loadManifest: () => import('../../../router-config/trusted-documents.json'),
  }),
  retry: () => false,
});

const auth = new SetContextLink(({ headers }) => {
  const token = read('token');
  return { headers: token ? { ...headers, authorization: `Bearer ${token}` } : headers };
});

// The router answers 401 to a token it refuses (expired, or signed by someone
// else): forget it, and the shopper browses as a guest until they sign in again.
const signOutOnRefusedToken = new ErrorLink(({ error }) => {
  if (ServerError.is(error) && error.statusCode === 401) write('token', null);
});

export const client = new ApolloClient({
  link: ApolloLink.from([signOutOnRefusedToken, auth, persistedQueries, new HttpLink({ uri: '/graphql' })]),
  cache: new InMemoryCache({
    typePolicies: {
      // Identified as the subgraphs identify them (@key): a variant by its
      // sku, a product by its slug, which every selection of it includes.
      Variant: { keyFields: ['sku'] },
      Product: { keyFields: ['slug'] },
    },
  }),
});

// Another customer, or none, may see other carts and orders: start afresh.
// A page's query that now fails (an order, signed out) shows its own error.
subscribe((key) => {
  if (key === 'token') client.resetStore().catch(() => {});
});
