import { useMutation } from '@apollo/client/react';
import { Link } from 'react-router';
import { useCart } from '../cart';
import { Checkout } from '../components/Checkout';
import { ErrorNotice } from '../components/ErrorNotice';
import { UserErrors } from '../components/UserErrors';
import { CheckoutQuoteDocument, RemoveCartLineDocument, UpdateCartLineDocument } from '../gql/graphql';
import { formatMoney } from '../money';

const QUANTITIES = Array.from({ length: 10 }, (_, i) => i + 1);

export function CartPage() {
  const { cart, loading, error } = useCart();
  // Each answers with the whole cart, which updates every view of it. With
  // errorPolicy 'all' an error shows below instead of rejecting the call.
  // The checkout's quote follows the cart.
  const [updateLine, updated] = useMutation(UpdateCartLineDocument, { errorPolicy: 'all', refetchQueries: [CheckoutQuoteDocument] });
  const [removeLine, removed] = useMutation(RemoveCartLineDocument, { errorPolicy: 'all', refetchQueries: [CheckoutQuoteDocument] });

  // Only before the first answer: a refetch (after a failed checkout, say)
  // keeps the page, and the checkout's error, on screen.
  if (loading && !cart) return <p>Loading…</p>;
  if (!cart || cart.lines.length === 0) {
    return (
      <>
        <h1>Your cart</h1>
        <ErrorNotice error={error} />
        <p>
          Your cart is empty. <Link to="/">Find something</Link>
        </p>
      </>
    );
  }

  const userErrors = [
    ...(updated.data?.updateCartLine.userErrors ?? []),
    ...(removed.data?.removeCartLine.userErrors ?? []),
  ];
  return (
    <>
      <h1>Your cart</h1>
      <ErrorNotice error={error ?? updated.error ?? removed.error} />
      <UserErrors errors={userErrors} />
      <table>
        <tbody>
          {cart.lines.map((line) => (
            <tr key={line.id} data-testid="cart-line">
              <td>
                <Link to={`/product/${line.variant.product.slug}`}>{line.variant.product.name}</Link>
                {' · '}
                {line.variant.name}
                {line.variant.inStock === false && <small> (sold out)</small>}
              </td>
              <td>{formatMoney(line.variant.price)}</td>
              <td>
                <select
                  aria-label="Quantity"
                  value={line.quantity}
                  onChange={(event) =>
                    updateLine({ variables: { cartId: cart.id, lineId: line.id, quantity: Number(event.target.value) } })
                  }
                >
                  {/* A quantity above 10 (set elsewhere) stays selectable. */}
                  {[...new Set([...QUANTITIES, line.quantity])].map((n) => (
                    <option key={n}>{n}</option>
                  ))}
                </select>
              </td>
              <td>{formatMoney(line.lineTotal)}</td>
              <td>
                <button type="button" onClick={() => removeLine({ variables: { cartId: cart.id, lineId: line.id } })}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        Subtotal: <strong data-testid="cart-subtotal">{formatMoney(cart.subtotal)}</strong>
      </p>
      <Checkout cartId={cart.id} />
    </>
  );
}
