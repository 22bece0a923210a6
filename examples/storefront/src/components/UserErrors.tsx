type UserError = { code: string; message: string };

// A mutation's userErrors: what the shopper can fix (a quantity, a price that changed).
export function UserErrors({ errors }: { errors: readonly UserError[] }) {
  if (errors.length === 0) return null;
  return (
    <ul className="notice" role="alert">
      {errors.map((e, i) => (
        <li key={i} data-testid="user-error" data-code={e.code}>
          {e.message}
        </li>
      ))}
    </ul>
  );
}
