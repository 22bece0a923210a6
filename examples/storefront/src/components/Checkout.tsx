import { useState, type FormEvent } from 'react';
import { useMutation } from '@apollo/client/react';
import { useNavigate } from 'react-router';
import { CartDocument, PlaceOrderDocument, type CurrencyCode } from '../gql/graphql';
import { useStored, write } from '../session';
import { ErrorNotice } from './ErrorNotice';
import { UserErrors } from './UserErrors';

// The payment sandbox's tokens; a real shop gets one from its payment provider's client library.
const PAYMENT_TOKENS = [
  { token: 'tok_visa', label: 'Visa: authorizes' },
  { token: 'tok_declined', label: 'Declined card: the payment fails' },
  { token: 'tok_slow', label: 'Slow bank: authorizes after 3 s' },
];

type Props = { cartId: string; total: { amount: string; currencyCode: CurrencyCode } };

export function Checkout({ cartId, total }: Props) {
  const signedIn = useStored('token') !== null;
  const navigate = useNavigate();
  const [paymentToken, setPaymentToken] = useState('tok_visa');
  // Where it ships; checkout checks it for its country (userErrors name the part at fault).
  const [address, setAddress] = useState({ name: '', line1: '', city: '', region: '', postalCode: '', country: 'US' });
  const field = (part: keyof typeof address, label: string) => (
    <label>
      {label}{' '}
      <input data-testid={`address-${part}`} value={address[part]} onChange={(event) => setAddress({ ...address, [part]: event.target.value })} />
    </label>
  );
  // On PRICE_CHANGED the cart shows the new prices to order at.
  const [placeOrder, { data, loading, error }] = useMutation(PlaceOrderDocument, {
    refetchQueries: [CartDocument],
    errorPolicy: 'all',
  });

  async function submit(event: FormEvent) {
    event.preventDefault();
    const { data } = await placeOrder({
      variables: {
        input: {
          cartId,
          // A new key for each attempt: the same key always answers with the
          // same order, so a request repeated on the way cannot order twice.
          idempotencyKey: crypto.randomUUID(),
          paymentToken,
          shippingAddress: { ...address, region: address.region || null, postalCode: address.postalCode || null },
          // What the shopper saw: the order is refused if the total differs.
          // (Copied field by field: the cached Money also has a __typename.)
          expectedTotal: { amount: total.amount, currencyCode: total.currencyCode },
        },
      },
    });
    const order = data?.placeOrder.order;
    if (order) {
      // The cart is the order's now. Should payment fail, the cart reopens:
      // the order page offers to go back to it.
      write('cartId', null);
      navigate(`/orders/${order.id}`, { state: { cartId } });
    }
  }

  if (!signedIn) return <p data-testid="sign-in-to-check-out">Sign in (at the top) to check out.</p>;

  return (
    <form className="checkout" onSubmit={submit}>
      <fieldset>
        <legend>Ship to</legend>
        {field('name', 'Name')} {field('line1', 'Street')} {field('city', 'City')} {field('region', 'State or region')}{' '}
        {field('postalCode', 'Postal code')} {field('country', 'Country (ISO code)')}
      </fieldset>
      <label>
        Payment{' '}
        <select data-testid="payment-token" value={paymentToken} onChange={(event) => setPaymentToken(event.target.value)}>
          {PAYMENT_TOKENS.map(({ token, label }) => (
            <option key={token} value={token}>
              {token} ({label})
            </option>
          ))}
        </select>
      </label>{' '}
      <button type="submit" data-testid="checkout" disabled={loading}>
        Place order
      </button>
      <UserErrors errors={data?.placeOrder.userErrors ?? []} />
      <ErrorNotice error={error} />
    </form>
  );
}
