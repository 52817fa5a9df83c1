// Package dapr holds the end-to-end test of the Dapr transport (build tag
// e2e): pkg/dapr's Publisher and Subscriber against a real daprd sidecar
// (tests/toolchain finds the pinned binary) whose pubsub.kafka component
// speaks to an in-process Kafka broker (pkg/kafka/kafkatest), with the
// consume runtime on a real PostgreSQL (pkg/database/dbtest), and taskapi's
// outbox relay publishing through the sidecar.
package dapr
