-- Full-text search on SQLite: an FTS5 index over the analyzer's stems
-- (products::search), kept in step with `products` by triggers.
CREATE VIRTUAL TABLE products_search USING fts5(name_terms, description_terms, content='products', tokenize='unicode61');

CREATE TRIGGER products_search_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_search (rowid, name_terms, description_terms) VALUES (new.rowid, new.name_terms, new.description_terms);
END;

CREATE TRIGGER products_search_delete AFTER DELETE ON products BEGIN
    INSERT INTO products_search (products_search, rowid, name_terms, description_terms) VALUES ('delete', old.rowid, old.name_terms, old.description_terms);
END;

CREATE TRIGGER products_search_update AFTER UPDATE OF name_terms, description_terms ON products BEGIN
    INSERT INTO products_search (products_search, rowid, name_terms, description_terms) VALUES ('delete', old.rowid, old.name_terms, old.description_terms);
    INSERT INTO products_search (rowid, name_terms, description_terms) VALUES (new.rowid, new.name_terms, new.description_terms);
END;

INSERT INTO products_search (products_search) VALUES ('rebuild');
