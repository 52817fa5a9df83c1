-- The search vector holds titles stemmed in English and as written (a prefix
-- being typed, "lisb", finds "Lisbon"; stop words such as "the" are found),
-- and descriptions stemmed in English only: a prefix finds a description's
-- word through its stem ("passp" finds "passports"). The description's
-- words as written doubled what every write of a task computes and puts
-- into the search index, for little: the word typed last is nearly always
-- a prefix of its stem too.
DROP INDEX tasks_owner_search;
ALTER TABLE tasks DROP COLUMN search;
ALTER TABLE tasks ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, title) || to_tsvector('simple'::regconfig, title), 'A') ||
    setweight(to_tsvector('english'::regconfig, description), 'B')
) STORED;
CREATE INDEX tasks_owner_search ON tasks USING gin (owner_id, search);
