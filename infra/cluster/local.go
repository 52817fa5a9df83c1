package cluster

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/todo-platform/todo/infra/config"
)

// local adopts the one-node cluster `make cluster` runs on this machine: its
// kubeconfig context, as on minikube, and its registry, where the images are
// pushed and from which the node pulls them (no credentials: it listens on
// loopback only).
func (c *Cluster) local(ctx *pulumi.Context, name string, cfg *config.Config) error {
	if err := c.minikube(ctx, name, cfg); err != nil {
		return err
	}
	c.Registry = pulumi.String(cfg.Cluster.Registry).ToStringOutput()
	return nil
}
