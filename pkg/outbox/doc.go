// Package outbox writes events into a service's transactional outbox: a table
// that the service writes in the same transaction as the change the event
// describes, so that an event exists exactly when its change does. A relay
// publishes the rows to the broker afterwards.
//
// An outbox table has the shape TableSQL creates (each owning service
// creates its own, in its own schema; after each commit the writer wakes the
// relays with a pgnotify.Notifier, NOTIFY "<schema>_outbox"): rows in
// publication order (id), each with its topic, partition key (the Kafka
// message key: the owner's user id), event id, CloudEvents JSON and, once
// the broker has it, published_at.
//
// A Relay publishes the rows of one outbox table to the broker, as follows.
//
// # How rows are claimed
//
// A batch is one transaction on the pool:
//
//  1. SELECT pg_try_advisory_xact_lock(<key of the table>) — one relay per
//     table works at a time; another instance that finds the lock taken
//     leaves (the holder is awake too, see below) and comes back at its next
//     wake-up or poll.
//  2. SELECT the oldest pending rows (published_at IS NULL) ORDER BY id LIMIT
//     BatchSize. This is a separate statement after the lock, so under READ
//     COMMITTED its snapshot is taken after the previous holder committed its
//     marks: a row marked published by one relay is never read as pending by
//     the next.
//  3. Publish them, each partition key in id order (see below).
//  4. UPDATE … SET published_at = now() for the rows the broker acknowledged,
//     then COMMIT, which releases the lock.
//
// Why a lock per table rather than claiming rows with FOR UPDATE SKIP LOCKED:
// two relays that each claimed a different batch would publish them at the
// same time, and a user whose events fall into both batches would see them
// out of order. With the lock, batches are published one after the other in
// id order, whichever instance runs them; more instances give availability,
// not parallelism (one relay publishes thousands of events per second, far
// more than the task API writes).
//
// # Why nothing is skipped
//
// Ids come from a sequence, so a transaction can take id 10, another id 11,
// and 11 commit first. The relay never remembers "the last id it published"
// and never asks for ids above it: it asks for rows that are not marked
// published, so 10 is found whenever it commits, even after 11 went out.
// Ordering stays right where it matters: two changes of the same task
// serialize on the task's row lock and write their outbox rows after taking
// it, so their ids follow their commit order; changes of different tasks of
// one user that commit concurrently have no order between them to keep.
//
// # Why nothing is published twice in a way a consumer notices
//
// Publishing is at least once: a relay that dies (or whose commit fails)
// after the broker acknowledged a row and before its mark committed leaves
// the row pending, and the next batch publishes it again. The copy carries
// the same event id, and consumers are idempotent on the event id, so it has
// no effect. What a consumer could notice is reordering: if event 2 of a user
// failed while event 3 of the same user was stored, publishing 2 again would
// put it after 3. So the relay never hands a key's next row to the publisher
// before the broker acknowledged the previous one: each key of a batch is a
// lane that publishes its rows one after the other and stops at the first
// failure; lanes of different keys run concurrently (up to Lanes at once),
// which is what keeps throughput up. After a failure only the acknowledged
// rows are marked; the rest, in order, lead the next attempt. Even when two
// relays do overlap (one lost its database connection, hence its lock, while
// still publishing), each sends a key's rows in order, so the first copy of
// every event still arrives in order.
//
// # Wake-ups
//
// A dedicated connection LISTENs on the table's channel (writers NOTIFY it
// after their commits, see pgnotify), on RelayConfig.ListenConfig: the
// direct URL, never a transaction-mode pooler. Every relay instance listens,
// so the one holding the lock gets the wake-up that arrives during its batch
// and runs another. A poll every PollInterval covers lost notifications and
// a listener that is reconnecting (which it does with backoff when its
// connection drops, or stops answering the ping it gets after ListenCheck
// of silence). When the broker is down, batches fail and the relay
// retries with exponential backoff; rows stay pending, the outbox grows and
// the lag metrics show it.
package outbox
