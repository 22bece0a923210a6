-- Requests per day that used each schema coordinate (Type.field,
-- Type.field.argument, or a type name), as the router's usage plugin counts them.
CREATE TABLE field_usage (
    day TEXT NOT NULL,
    coordinate TEXT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (day, coordinate)
);
