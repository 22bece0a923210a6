import { useState, type FormEvent } from 'react';
import { skipToken, useMutation, useQuery } from '@apollo/client/react';
import { useNavigate } from 'react-router';
import { CartDocument, CheckoutQuoteDocument, PlaceOrderDocument } from '../gql/graphql';
import { formatMoney } from '../money';
import { useStored, write } from '../session';
import { ErrorNotice } from './ErrorNotice';
import { UserErrors } from './UserErrors';

// The payment sandbox's tokens; a real shop gets one from its payment provider's client library.
const PAYMENT_TOKENS = [
  { token: 'tok_visa', label: 'Visa: authorizes' },
  { token: 'tok_declined', label: 'Declined card: the payment fails' },
  { token: 'tok_slow', label: 'Slow bank: authorizes after 3 s' },
];

const NO_ADDRESS = { name: '', line1: '', city: '', region: '', postalCode: '', country: 'US' };

export function Checkout({ cartId }: { cartId: string }) {
  const signedIn = useStored('token') !== null;
  const navigate = useNavigate();
  const [paymentToken, setPaymentToken] = useState('tok_visa');
  // A guest leaves an email for the receipt; a customer needs none.
  const [email, setEmail] = useState('');
  // Where it ships; checkout checks it for its country (userErrors name the part at fault).
  const [address, setAddress] = useState(NO_ADDRESS);
  // null: the cheapest method to the address, as the quote says.
  const [shippingMethod, setShippingMethod] = useState<string | null>(null);
  const field = (part: keyof typeof address, label: string) => (
    <label>
      {label}{' '}
      <input
        data-testid={`address-${part}`}
        value={address[part]}
        onChange={(event) => {
          setAddress({ ...address, [part]: event.target.value });
          // Another country ships by other methods.
          if (part === 'country') setShippingMethod(null);
        }}
      />
    </label>
  );

  // What the order will cost shipped there: the methods that go there, and
  // the total placeOrder charges. Asked again as the country, state or method changes.
  const country = address.country.trim().toUpperCase();
  const quoted = useQuery(
    CheckoutQuoteDocument,
    country.length === 2 ? { variables: { cartId, country, region: address.region.trim() || null, shippingMethod }, errorPolicy: 'all' } : skipToken,
  );
  const quote = quoted.data?.checkoutQuote;

  // On PRICE_CHANGED the cart and the quote show the new prices to order at.
  const [placeOrder, { data, loading, error }] = useMutation(PlaceOrderDocument, {
    refetchQueries: [CartDocument, CheckoutQuoteDocument],
    errorPolicy: 'all',
  });

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!quote) return;
    const { data } = await placeOrder({
      variables: {
        input: {
          cartId,
          // A new key for each attempt: the same key always answers with the
          // same order, so a request repeated on the way cannot order twice.
          idempotencyKey: crypto.randomUUID(),
          paymentToken,
          email: email.trim() || null,
          shippingAddress: { ...address, region: address.region || null, postalCode: address.postalCode || null },
          shippingMethod: quote.shippingMethod.code,
          // What the shopper saw: the order is refused if the total differs.
          // (Copied field by field: the cached Money also has a __typename.)
          expectedTotal: { amount: quote.total.amount, currencyCode: quote.total.currencyCode },
        },
      },
    });
    const placed = data?.placeOrder;
    if (placed?.order) {
      // The cart is the order's now. Should payment fail, the cart reopens:
      // the order page offers to go back to it. A guest's way back to the
      // order is its access token, kept in the order page's address.
      write('cartId', null);
      const access = placed.orderAccessToken ? `?access=${encodeURIComponent(placed.orderAccessToken)}` : '';
      navigate(`/orders/${placed.order.id}${access}`, { state: { cartId } });
    }
  }

  return (
    <form className="checkout" onSubmit={submit}>
      {!signedIn && (
        <label>
          Email for your receipt{' '}
          <input data-testid="guest-email" type="email" value={email} onChange={(event) => setEmail(event.target.value)} />{' '}
          <small>(or sign in at the top)</small>
        </label>
      )}
      <fieldset>
        <legend>Ship to</legend>
        {field('name', 'Name')} {field('line1', 'Street')} {field('city', 'City')} {field('region', 'State or region')}{' '}
        {field('postalCode', 'Postal code')} {field('country', 'Country (ISO code)')}
      </fieldset>
      {quote && (
        <fieldset data-testid="quote">
          <legend>Shipping</legend>
          {quote.shippingMethods.map((method) => (
            <label key={method.code}>
              <input
                type="radio"
                name="shipping-method"
                data-testid={`shipping-${method.code}`}
                checked={method.code === quote.shippingMethod.code}
                onChange={() => setShippingMethod(method.code)}
              />{' '}
              {method.name} ({method.carrier}, {method.minDays}–{method.maxDays} days): {formatMoney(method.price)}
            </label>
          ))}
          <p>
            Subtotal {formatMoney(quote.subtotal)} · Shipping {formatMoney(quote.shippingTotal)} ·{' '}
            {quote.taxesIncluded ? `including tax ${formatMoney(quote.taxTotal)}` : `tax ${formatMoney(quote.taxTotal)}`}
          </p>
          <p>
            Total: <strong data-testid="quote-total">{formatMoney(quote.total)}</strong>
          </p>
        </fieldset>
      )}
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
      <button type="submit" data-testid="checkout" disabled={loading || !quote}>
        Place order
      </button>
      <UserErrors errors={data?.placeOrder.userErrors ?? []} />
      <ErrorNotice error={error ?? quoted.error} />
    </form>
  );
}
