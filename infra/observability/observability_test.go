package observability_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/todo-platform/todo/infra/observability"
)

// exported are the metric families the platform's code registers: every
// `Name: "..."` of a collector, and the database pool's db_pool_* ones.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	name := regexp.MustCompile(`Name:\s+"([a-z_]+)"`)
	desc := regexp.MustCompile(`d\("([a-z_]+)", "`)
	for _, dir := range []string{"../../pkg", "../../services"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path) //nolint:gosec // the repository's own files
			if err != nil {
				return err
			}
			for _, m := range name.FindAllSubmatch(b, -1) {
				names[string(m[1])] = true
			}
			if strings.HasSuffix(path, filepath.Join("database", "metrics.go")) {
				for _, m := range desc.FindAllSubmatch(b, -1) {
					names["db_pool_"+string(m[1])] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"http_request_duration_seconds", "kafka_consumer_lag", "db_pool_empty_acquires_total"} {
		if !names[want] {
			t.Fatalf("the scan of the code misses %s: fix exported()", want)
		}
	}
	return names
}

// checkMetrics parses expr as PromQL and reports each metric it selects
// that the platform does not export (histograms by their _bucket, _sum and
// _count series).
func checkMetrics(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	e, err := parser.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		family := vs.Name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(family, suffix); ok && names[base] {
				family = base
			}
		}
		if !names[family] {
			t.Errorf("%s: %s is not a metric the platform exports", where, vs.Name)
		}
		return nil
	})
}

// TestAlertRules: alerts.yaml passes Prometheus's own rule parser, every
// rule has a severity, a summary and a description, and every metric it
// names is exported.
func TestAlertRules(t *testing.T) {
	b, err := fs.ReadFile(observability.Files, "alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(b, false)
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		return
	}
	names := exported(t)
	rules := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			rules++
			if r.Alert == "" {
				t.Errorf("group %s: a recording rule; this file holds alerts", g.Name)
				continue
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: wants a summary and a description", r.Alert)
			}
			checkMetrics(t, r.Alert, r.Expr, names)
		}
	}
	if rules < 8 {
		t.Errorf("%d rules; the platform's figures want more", rules)
	}
}

// TestDashboards: each dashboard is JSON that Grafana takes (a uid, a
// title, a Prometheus datasource variable), and every panel's queries parse
// as PromQL (Grafana's interval variables taken as 5m) and name exported
// metrics only.
func TestDashboards(t *testing.T) {
	files, err := fs.Glob(observability.Files, "dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	names := exported(t)
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__range", "5m", "$__interval", "1m")
	for _, f := range files {
		b, err := fs.ReadFile(observability.Files, f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID, Title string
			Templating struct {
				List []struct{ Name, Type, Query string }
			}
			Panels []struct {
				Title   string
				Targets []struct{ Expr, RefID string }
			}
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: wants a uid and a title", f)
		}
		if len(d.Templating.List) == 0 || d.Templating.List[0].Type != "datasource" || d.Templating.List[0].Query != "prometheus" {
			t.Errorf("%s: the first variable must pick the Prometheus datasource", f)
		}
		if len(d.Panels) < 6 {
			t.Errorf("%s: %d panels", f, len(d.Panels))
		}
		for _, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f, p.Title)
			}
			for _, q := range p.Targets {
				checkMetrics(t, f+": "+p.Title, vars.Replace(q.Expr), names)
			}
		}
	}
}
