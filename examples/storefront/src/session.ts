// What this browser remembers between visits: the customer token the shopper
// pasted, and the id of their cart (for a guest cart, the id is the only key).
// Components read them with useStored, which re-renders on every change.
import { useSyncExternalStore } from 'react';

type Key = 'token' | 'cartId';

const storageKeys: Record<Key, string> = { token: 'storefront.token', cartId: 'storefront.cartId' };
const listeners = new Set<(key: Key) => void>();

export function read(key: Key): string | null {
  return localStorage.getItem(storageKeys[key]);
}

export function write(key: Key, value: string | null) {
  if (read(key) === value) return;
  if (value === null) localStorage.removeItem(storageKeys[key]);
  else localStorage.setItem(storageKeys[key], value);
  listeners.forEach((listener) => listener(key));
}

export function subscribe(listener: (key: Key) => void) {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

export function useStored(key: Key) {
  return useSyncExternalStore(subscribe, () => read(key));
}
