import { skipToken, useQuery, useSubscription } from '@apollo/client/react';
import { Link, useLocation, useNavigate, useParams, useSearchParams } from 'react-router';
import { ErrorNotice } from '../components/ErrorNotice';
import { OrderDocument, OrderStatusDocument, type OrderStatus } from '../gql/graphql';
import { formatMoney } from '../money';
import { write } from '../session';

// Where the checkout saga ends. A CONFIRMED order may still be cancelled or
// shipped later, by the shopper or the back office, not by itself.
const SETTLED: OrderStatus[] = ['CONFIRMED', 'REJECTED', 'PAYMENT_FAILED', 'CANCELLED', 'PARTIALLY_FULFILLED', 'FULFILLED'];
// After these the cart is open again, to try another card or fewer items.
const CART_REOPENS: OrderStatus[] = ['REJECTED', 'PAYMENT_FAILED'];

export function OrderPage() {
  const { id = '' } = useParams();
  const { state } = useLocation() as { state: { cartId?: string } | null };
  const navigate = useNavigate();
  // A guest reads their order with the access token checkout gave them.
  const [params] = useSearchParams();
  const accessToken = params.get('access');
  const { data, loading, error, refetch } = useQuery(OrderDocument, { variables: { id, accessToken } });
  const order = data?.order;

  // Follow the order live until it settles. Each status pushed lands in the
  // cache (Order:id), so `order.status` moves on and, once settled, skipToken
  // ends the subscription. The timeline is read again at each change.
  const following = !!order && !SETTLED.includes(order.status);
  const live = useSubscription(OrderStatusDocument, following ? { variables: { id, accessToken }, onData: () => void refetch() } : skipToken);

  if (loading) return <p>Loading…</p>;
  if (!order) return error ? <ErrorNotice error={error} /> : <p>No order {id} (is it another customer's?)</p>;

  function backToCart() {
    write('cartId', state?.cartId ?? null);
    navigate('/cart');
  }

  return (
    <article>
      <h1>Order {order.number}</h1>
      <ErrorNotice error={error ?? live.error} />
      <p>
        Status: <strong data-testid="order-status">{order.status}</strong>
        {following && ' (updating live)'}
      </p>
      {CART_REOPENS.includes(order.status) && state?.cartId && (
        <button type="button" onClick={backToCart}>
          Back to your cart
        </button>
      )}
      <table>
        <tbody>
          {order.lines.map((line) => (
            <tr key={line.variant.sku}>
              <td>
                <Link to={`/product/${line.variant.product.slug}`}>{line.variant.product.name}</Link> · {line.variant.name}
              </td>
              <td>
                {line.quantity} × {formatMoney(line.unitPrice)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        Subtotal {formatMoney(order.subtotal)} · Shipping {formatMoney(order.shippingTotal)}
        {order.shippingMethod && ` (${order.shippingMethod})`} ·{' '}
        {order.taxesIncluded ? `including tax ${formatMoney(order.taxTotal)}` : `tax ${formatMoney(order.taxTotal)}`}
      </p>
      <p>
        Total: <strong data-testid="order-total">{formatMoney(order.total)}</strong>
      </p>
      {order.email && <p>Receipt to {order.email}</p>}
      {order.fulfilments.map((shipment) => (
        <p key={shipment.trackingNumber} data-testid="fulfilment">
          Shipped with {shipment.carrier}, tracking {shipment.trackingNumber}
        </p>
      ))}
      {order.shippingAddress && (
        <address data-testid="shipping-address">
          Ships to {order.shippingAddress.name}, {order.shippingAddress.line1}
          {order.shippingAddress.line2 && `, ${order.shippingAddress.line2}`}, {order.shippingAddress.city}
          {order.shippingAddress.region && ` ${order.shippingAddress.region}`}
          {order.shippingAddress.postalCode && ` ${order.shippingAddress.postalCode}`}, {order.shippingAddress.country}
        </address>
      )}
      <h2>Timeline</h2>
      <ol data-testid="order-timeline">
        {order.timeline.map((change) => (
          <li key={`${change.status}-${change.at}`}>
            {new Date(change.at).toLocaleString()}: {change.status}
            {change.reason && ` (${change.reason})`}
          </li>
        ))}
      </ol>
    </article>
  );
}
