import { CategoryNav } from '../components/CategoryNav';

export function HomePage() {
  return (
    <>
      <h1>Shop by category</h1>
      <CategoryNav />
    </>
  );
}
