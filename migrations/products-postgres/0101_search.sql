-- Full-text search on PostgreSQL: the analyzer's stems, names weighted
-- above descriptions, in a GIN index. `simple` because the stems are
-- already made (products::search), the same ones SQLite's index holds.
ALTER TABLE products ADD COLUMN search_document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', name_terms), 'A') || setweight(to_tsvector('simple', description_terms), 'B')
) STORED;
CREATE INDEX products_search ON products USING GIN (search_document);
