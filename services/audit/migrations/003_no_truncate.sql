-- TRUNCATE fires no row trigger: a statement-level trigger refuses it, so
-- the log stays append-only whoever empties it (the owner too, unless it
-- first drops or disables this trigger, which only the owner may; the
-- services run as a role that owns nothing).
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION entries_append_only();
