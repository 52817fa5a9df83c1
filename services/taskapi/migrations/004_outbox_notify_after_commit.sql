-- The relay is now woken by a NOTIFY sent after each commit, in a statement
-- of its own (pkg/outbox Waker). A NOTIFY inside the writing transaction made
-- PostgreSQL serialize every commit of the database through the WAL flush.
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
