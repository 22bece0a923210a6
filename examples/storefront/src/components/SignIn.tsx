import { useState, type FormEvent } from 'react';
import { useApolloClient } from '@apollo/client/react';
import { getFragmentData } from '../gql';
import { CartViewFragmentDoc, MergeCartDocument } from '../gql/graphql';
import { read, useStored, write } from '../session';

// The shop's identity provider would hand out the token; in dev, paste the one
// `cargo run` prints (or `cargo run -- token --sub customer-42 --name Ada`).
export function SignIn() {
  const token = useStored('token');
  const client = useApolloClient();
  const [pasted, setPasted] = useState('');

  if (token) {
    return (
      <div className="sign-in">
        <span data-testid="signed-in-as">Signed in as {customerName(token)}</span>
        <button type="button" data-testid="sign-out" onClick={() => write('token', null)}>
          Sign out
        </button>
      </div>
    );
  }

  async function signIn(event: FormEvent) {
    event.preventDefault();
    const value = pasted.trim().replace(/^Bearer\s+/i, '');
    setPasted('');
    if (!value) return;
    write('token', value);
    // The guest cart becomes the customer's (merged into theirs, if they have one).
    const guestCartId = read('cartId');
    if (!guestCartId) return;
    const merged = await client.mutate({ mutation: MergeCartDocument, variables: { guestCartId }, errorPolicy: 'all' });
    const cart = getFragmentData(CartViewFragmentDoc, merged.data?.mergeCart.cart);
    if (cart) write('cartId', cart.id);
  }

  return (
    <form className="sign-in" onSubmit={signIn}>
      <input
        data-testid="sign-in-token"
        aria-label="Customer token"
        placeholder="Paste a customer token"
        value={pasted}
        onChange={(event) => setPasted(event.target.value)}
      />
      <button type="submit" data-testid="sign-in">
        Sign in
      </button>
    </form>
  );
}

// For display only: the router verifies the token on every request.
function customerName(token: string) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as { name?: string; sub?: string };
    return claims.name ?? claims.sub ?? 'a customer';
  } catch {
    return 'a customer';
  }
}
