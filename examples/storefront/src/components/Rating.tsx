type Props = { rating: { average: number | null; count: number } | null };

// rating is null when the reviews subgraph cannot answer.
export function Rating({ rating }: Props) {
  if (rating === null) return <span>Rating unavailable</span>;
  if (rating.average === null) return <span>No ratings yet</span>;
  return (
    <span>
      ★ {rating.average.toFixed(1)} ({rating.count} {rating.count === 1 ? 'rating' : 'ratings'})
    </span>
  );
}
