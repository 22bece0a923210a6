import { CombinedGraphQLErrors, type ErrorLike } from '@apollo/client';

// What went wrong with a request. With data beside it, the page shows what it
// has: e.g. stock is unknown while inventory is down.
export function ErrorNotice({ error }: { error: ErrorLike | undefined }) {
  if (!error) return null;
  const messages = CombinedGraphQLErrors.is(error) ? error.errors.map((e) => e.message) : [error.message];
  return (
    <div className="notice" role="alert" data-testid="error">
      {messages.map((message, i) => (
        <p key={i}>{message}</p>
      ))}
    </div>
  );
}
