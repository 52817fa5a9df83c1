// Package observability holds what operators watch the platform with: the
// Prometheus alert rules (alerts.yaml) and the Grafana dashboards
// (dashboards/*.json), on the metrics the services export. They ship as
// files; load them into the monitoring stack the cluster runs (see
// infra/README.md, "Observability").
package observability

import "embed"

// Files are alerts.yaml and dashboards/*.json.
//
//go:embed alerts.yaml dashboards/*.json
var Files embed.FS
