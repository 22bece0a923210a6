import { useState } from 'react';
import { useQuery } from '@apollo/client/react';
import { Link, useParams } from 'react-router';
import { CategoryNav } from '../components/CategoryNav';
import { ErrorNotice } from '../components/ErrorNotice';
import { Rating } from '../components/Rating';
import { CategoriesDocument, ProductListingDocument } from '../gql/graphql';
import { formatMoney } from '../money';

const PAGE_SIZE = 12;

export function CategoryPage() {
  const { slug = '' } = useParams();
  const { data } = useQuery(CategoriesDocument);
  const category = data?.categories.find((c) => c.slug === slug);
  return (
    <div className="with-sidebar">
      <CategoryNav />
      <section>
        <h1>{category?.name ?? slug}</h1>
        {/* A new category starts again at its first page. */}
        <ProductListing key={slug} category={slug} />
      </section>
    </div>
  );
}

// Pages go both ways: "Next" asks for the page after the last product's
// cursor, "Previous" for the one before the first product's.
type Page = { number: number; after?: string | null; before?: string | null };

function ProductListing({ category }: { category: string }) {
  const [page, setPage] = useState<Page>({ number: 1 });
  const slice = page.before ? { last: PAGE_SIZE, before: page.before } : { first: PAGE_SIZE, after: page.after ?? null };
  const { data, previousData, loading, error } = useQuery(ProductListingDocument, {
    variables: { ...slice, category },
    // With inventory or reviews down, the listing still shows the catalog's
    // data: inStock or rating null, and an error naming the subgraph.
    errorPolicy: 'all',
  });
  // Keep the page on screen while the next one loads.
  const products = (data ?? previousData)?.products;
  if (!products) return loading ? <p>Loading…</p> : <ErrorNotice error={error} />;

  return (
    <>
      <ErrorNotice error={error} />
      <p>
        {products.totalCount} products, page {page.number}
      </p>
      <ul className="grid">
        {products.edges.map(({ node }) => (
          <li key={node.id} className="card">
            <Link to={`/product/${node.slug}`} data-testid="product-link">
              {node.featuredImage && (
                <img src={node.featuredImage.url} alt={node.featuredImage.altText} width={200} height={200} loading="lazy" />
              )}
              {node.name}
            </Link>
            <span>
              {formatMoney(node.priceRange.min)}
              {node.priceRange.max.amount !== node.priceRange.min.amount && ` – ${formatMoney(node.priceRange.max)}`}
            </span>
            <small>
              {node.inStock === null ? 'Stock unknown' : node.inStock ? 'In stock' : 'Sold out'}
              {' · '}
              <Rating rating={node.rating} />
            </small>
          </li>
        ))}
      </ul>
      <div className="pager">
        <button
          type="button"
          data-testid="previous-page"
          disabled={!products.pageInfo.hasPreviousPage || loading}
          onClick={() => setPage({ number: page.number - 1, before: products.pageInfo.startCursor })}
        >
          Previous
        </button>
        <button
          type="button"
          data-testid="next-page"
          disabled={!products.pageInfo.hasNextPage || loading}
          onClick={() => setPage({ number: page.number + 1, after: products.pageInfo.endCursor })}
        >
          Next page
        </button>
      </div>
    </>
  );
}
