import { useEffect } from 'react';
import { CombinedGraphQLErrors, type ApolloClient } from '@apollo/client';
import { skipToken, useQuery } from '@apollo/client/react';
import { getFragmentData } from './gql';
import { AddCartLineDocument, CartDocument, CartViewFragmentDoc, CreateCartDocument } from './gql/graphql';
import { read, useStored, write } from './session';

// The shopper's cart, or null when they have none yet.
export function useCart() {
  const cartId = useStored('cartId');
  // With inventory down, the cart keeps its lines and totals (inStock null).
  const result = useQuery(CartDocument, cartId ? { variables: { id: cartId }, errorPolicy: 'all' } : skipToken);
  const cart = getFragmentData(CartViewFragmentDoc, result.data?.cart);
  // A cart that reads null is gone or another customer's (a customer's cart
  // is invisible once they sign out): forget it, the next add makes a new one.
  const gone = result.data !== undefined && result.data.cart === null;
  useEffect(() => {
    if (gone) write('cartId', null);
  }, [gone]);
  // Skipped, the query still holds the last cart it read: not ours any more.
  return { cart: cartId ? (cart ?? null) : null, loading: result.loading, error: result.error };
}

// Adds a variant to the shopper's cart. The first add creates the cart: a
// guest cart without a token, which the shopper may still order after signing
// in. A remembered cart that is gone, already ordered or someone else's is
// replaced by a new one. Answers the userErrors (e.g. INVALID_QUANTITY).
export async function addToCart(client: ApolloClient, sku: string, quantity: number) {
  const remembered = read('cartId');
  if (remembered) {
    const result = await addLine(client, remembered, sku, quantity);
    if (!cartUnusable(result)) return answer(result);
  }
  const created = await client.mutate({ mutation: CreateCartDocument });
  const cart = getFragmentData(CartViewFragmentDoc, created.data?.createCart.cart);
  if (!cart) throw new Error(created.data?.createCart.userErrors[0]?.message ?? 'no cart was created');
  const result = await addLine(client, cart.id, sku, quantity);
  // Only now, so that the views reading the cart read it with its first line.
  write('cartId', cart.id);
  return answer(result);
}

type AddLineResult = Awaited<ReturnType<typeof addLine>>;

function addLine(client: ApolloClient, cartId: string, sku: string, quantity: number) {
  return client.mutate({ mutation: AddCartLineDocument, variables: { cartId, sku, quantity }, errorPolicy: 'all' });
}

function cartUnusable({ data, error }: AddLineResult) {
  const forbidden = CombinedGraphQLErrors.is(error) && error.errors.some((e) => e.extensions?.code === 'FORBIDDEN');
  const userErrors = data?.addCartLine.userErrors ?? [];
  return forbidden || userErrors.some((e) => e.code === 'CART_NOT_FOUND' || e.code === 'CART_CLOSED');
}

function answer({ data, error }: AddLineResult) {
  if (error) throw error;
  return data?.addCartLine.userErrors ?? [];
}
