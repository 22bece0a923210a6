import { useState } from 'react';
import { useApolloClient, useQuery } from '@apollo/client/react';
import { Link, useParams } from 'react-router';
import { addToCart } from '../cart';
import { ErrorNotice } from '../components/ErrorNotice';
import { Rating } from '../components/Rating';
import { UserErrors } from '../components/UserErrors';
import { ProductPageDocument, type ProductPageQuery } from '../gql/graphql';
import { formatMoney } from '../money';

type Variant = NonNullable<ProductPageQuery['product']>['variants'][number];

export function ProductPage() {
  const { slug = '' } = useParams();
  // With inventory or reviews down, the page still shows the catalog's data:
  // stock, rating or reviews null, and an error naming the subgraph.
  const { data, loading, error } = useQuery(ProductPageDocument, { variables: { slug }, errorPolicy: 'all' });
  const product = data?.product;
  if (loading) return <p>Loading…</p>;
  if (!product) return error ? <ErrorNotice error={error} /> : <p>No product is called {slug}.</p>;

  return (
    <article>
      <ErrorNotice error={error} />
      {product.category && (
        <Link to={`/category/${product.category.slug}`}>← {product.category.name}</Link>
      )}
      <h1>{product.name}</h1>
      <div className="gallery">
        {product.images.map((image) => (
          <img key={image.url} src={image.url} alt={image.altText} width={240} height={240} />
        ))}
      </div>
      <p>{product.description}</p>
      <Rating rating={product.rating} />

      <h2>Variants</h2>
      <table>
        <tbody>
          {product.variants.map((variant) => (
            <VariantRow key={variant.sku} variant={variant} />
          ))}
        </tbody>
      </table>

      <h2>Reviews</h2>
      {product.reviews === null ? (
        <p>Reviews are unavailable right now.</p>
      ) : product.reviews.totalCount === 0 ? (
        <p>No reviews yet.</p>
      ) : (
        <ul className="reviews">
          {product.reviews.edges.map(({ node: review }) => (
            <li key={review.id}>
              <strong>{'★'.repeat(review.rating)}</strong> {review.title}
              <p>{review.body}</p>
              <small>
                {review.authorName}, {new Date(review.createdAt).toLocaleDateString()}
                {review.verifiedPurchase && ' · verified purchase'}
              </small>
            </li>
          ))}
        </ul>
      )}
    </article>
  );
}

function VariantRow({ variant }: { variant: Variant }) {
  const client = useApolloClient();
  const [adding, setAdding] = useState(false);
  const [added, setAdded] = useState(false);
  const [userErrors, setUserErrors] = useState<{ code: string; message: string }[]>([]);
  const [error, setError] = useState<Error>();

  async function add() {
    setAdding(true);
    setAdded(false);
    setError(undefined);
    try {
      const errors = await addToCart(client, variant.sku, 1);
      setUserErrors(errors);
      setAdded(errors.length === 0);
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setAdding(false);
    }
  }

  // inStock is null when inventory cannot answer: the shopper may still try.
  const stock = variant.inStock === null ? 'unknown' : variant.inStock ? 'in' : 'out';
  return (
    <tr data-testid="variant" data-stock={stock}>
      <td>{variant.name}</td>
      <td>{formatMoney(variant.price)}</td>
      <td>
        {variant.stock === null || variant.inStock === null
          ? 'stock unknown'
          : variant.inStock
            ? `${variant.stock.available} in stock`
            : 'sold out'}
      </td>
      <td>
        <button type="button" data-testid="add-to-cart" disabled={stock === 'out' || adding} onClick={add}>
          Add to cart
        </button>
        {added && <span data-testid="added"> Added</span>}
        <UserErrors errors={userErrors} />
        <ErrorNotice error={error} />
      </td>
    </tr>
  );
}
