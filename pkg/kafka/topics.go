package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// TopicSpec is how topics are created.
type TopicSpec struct {
	Partitions        int32 // default 12
	ReplicationFactor int16 // default 1; 3 on a production cluster
}

// EnsureTopics creates those of topics that do not exist yet. Existing
// topics are left as they are.
func EnsureTopics(ctx context.Context, cfg Config, spec TopicSpec, topics ...string) error {
	if spec.Partitions <= 0 {
		spec.Partitions = 12
	}
	if spec.ReplicationFactor == 0 {
		spec.ReplicationFactor = 1
	}
	s, err := cfg.Sarama()
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, s)
	if err != nil {
		return fmt.Errorf("kafka: connect admin to %v: %w", cfg.Brokers, err)
	}
	defer func() { _ = admin.Close() }()
	existing, err := admin.ListTopics()
	if err != nil {
		return fmt.Errorf("kafka: list topics: %w", err)
	}
	for _, t := range topics {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, ok := existing[t]; ok {
			continue
		}
		err := admin.CreateTopic(t, &sarama.TopicDetail{NumPartitions: spec.Partitions, ReplicationFactor: spec.ReplicationFactor}, false)
		if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %s: %w", t, err)
		}
	}
	return nil
}
