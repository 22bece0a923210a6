import { Link, Route, Routes } from 'react-router';
import { useCart } from './cart';
import { SignIn } from './components/SignIn';
import { CartPage } from './pages/CartPage';
import { CategoryPage } from './pages/CategoryPage';
import { HomePage } from './pages/HomePage';
import { OrderPage } from './pages/OrderPage';
import { ProductPage } from './pages/ProductPage';

export function App() {
  const { cart } = useCart();
  return (
    <>
      <header>
        <Link to="/" className="brand">
          Commerce storefront
        </Link>
        <Link to="/cart" data-testid="cart-link">
          Cart ({cart?.itemCount ?? 0})
        </Link>
        <SignIn />
      </header>
      <main>
        <Routes>
          <Route path="/" element={<HomePage />} />
          <Route path="/category/:slug" element={<CategoryPage />} />
          <Route path="/product/:slug" element={<ProductPage />} />
          <Route path="/cart" element={<CartPage />} />
          <Route path="/orders/:id" element={<OrderPage />} />
          <Route path="*" element={<p>Nothing here. <Link to="/">Back to the shop</Link></p>} />
        </Routes>
      </main>
    </>
  );
}
