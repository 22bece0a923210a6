import type { CurrencyCode } from './gql/graphql';

// Amounts travel as decimal strings; Number() here is for display only.
export function formatMoney({ amount, currencyCode }: { amount: string; currencyCode: CurrencyCode }) {
  return new Intl.NumberFormat(undefined, { style: 'currency', currency: currencyCode }).format(Number(amount));
}
