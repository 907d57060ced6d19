CREATE TABLE people (
    id SERIAL PRIMARY KEY,
    first_name TEXT NOT NULL CHECK (length(first_name) BETWEEN 1 AND 30),
    last_name TEXT NOT NULL CHECK (length(last_name) BETWEEN 1 AND 30),
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
