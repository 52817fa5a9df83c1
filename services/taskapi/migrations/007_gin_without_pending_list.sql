-- The GIN indexes (tags, search) take each write into the index at once
-- (fastupdate off) instead of a pending list that every search must read
-- whole until a vacuum or the list's limit merges it: searches and tag
-- filters then cost the same whether or not many writes came just before.
ALTER INDEX tasks_owner_search SET (fastupdate = off);
ALTER INDEX tasks_owner_tags SET (fastupdate = off);
