-- Search as you type: the search vector holds each word twice, stemmed in
-- English ("receipts" finds "receipt") and as written (so that a prefix,
-- "lisb", finds "Lisbon" before the word is whole). Titles weigh more than
-- descriptions.
DROP INDEX tasks_owner_search;
ALTER TABLE tasks DROP COLUMN search;
ALTER TABLE tasks ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, title) || to_tsvector('simple'::regconfig, title), 'A') ||
    setweight(to_tsvector('english'::regconfig, description) || to_tsvector('simple'::regconfig, description), 'B')
) STORED;
CREATE INDEX tasks_owner_search ON tasks USING gin (owner_id, search);
