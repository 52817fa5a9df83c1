-- Tag filters (@> for "all", && for "any") and full-text search, both per
-- owner: btree_gin lets one GIN index lead with the owner id.
CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA public;

ALTER TABLE tasks ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple'::regconfig, title), 'A') ||
    setweight(to_tsvector('simple'::regconfig, description), 'B')
) STORED;

CREATE INDEX tasks_owner_tags ON tasks USING gin (owner_id, tags);
CREATE INDEX tasks_owner_search ON tasks USING gin (owner_id, search);
