import { useQuery } from '@apollo/client/react';
import { NavLink } from 'react-router';
import { CategoriesDocument } from '../gql/graphql';
import { ErrorNotice } from './ErrorNotice';

export function CategoryNav() {
  const { data, error } = useQuery(CategoriesDocument);
  return (
    <nav className="categories">
      <ErrorNotice error={error} />
      <ul>
        {data?.categories.map((category) => (
          <li key={category.slug}>
            <NavLink to={`/category/${category.slug}`} data-testid="category-link">
              {category.name} <small>({category.productCount})</small>
            </NavLink>
          </li>
        ))}
      </ul>
    </nav>
  );
}
