package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// valid is a minimal valid minikube configuration.
func valid() map[string]string {
	return map[string]string{
		"todo:cloud":         "minikube",
		"todo:databaseUrl":   "postgres://u:p@h/db",
		"todo:internalToken": "t",
		"todo:jwtSecret":     "s",
		"todo:images":        `{"publish":"load"}`,
	}
}

func parse(t *testing.T, m map[string]string, plaintext ...string) (*Config, error) {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	isSecret := func(k string) bool {
		for _, p := range plaintext {
			if p == k {
				return false
			}
		}
		return true
	}
	return Parse("todo", "test", lookup, isSecret)
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	c, err := parse(t, valid())
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.Provider != KafkaStrimzi {
		t.Errorf("kafka provider on minikube = %q, want strimzi", c.Kafka.Provider)
	}
	if c.Dapr.On() {
		t.Error("dapr is on with the kafka transport by default")
	}
	if got := c.Apps["realtime"]; got.Replicas != 2 || got.MemoryLimit != "256Mi" {
		t.Errorf("realtime sizes = %+v, want the defaults", got)
	}
	if c.Images.Publish != PublishLoad || c.Images.Repository != "todo" {
		t.Errorf("images = %+v: the stack's fields must merge over the defaults", c.Images)
	}
}

func TestParseAppOverrides(t *testing.T) {
	t.Parallel()
	m := valid()
	m["todo:apps"] = `{"default":{"replicas":1,"maxReplicas":1},"realtime":{"replicas":3,"maxReplicas":10,"memoryLimit":"512Mi"}}`
	c, err := parse(t, m)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Apps["taskapi"]; got.Replicas != 1 || got.MaxReplicas != 1 || got.CPURequest != "100m" {
		t.Errorf("taskapi = %+v", got)
	}
	if got := c.Apps["realtime"]; got.Replicas != 3 || got.MaxReplicas != 10 || got.MemoryLimit != "512Mi" || got.MemoryRequest != "128Mi" {
		t.Errorf("realtime = %+v", got)
	}
}

// Every problem is reported, each naming the key to fix.
func TestParseErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		change  func(m map[string]string)
		plain   []string
		wantKey string
		wantMsg string
	}{
		{"unknown cloud", func(m map[string]string) { m["todo:cloud"] = "heroku" }, nil, "todo:cloud", `unknown cloud "heroku"`},
		{"missing cloud", func(m map[string]string) { delete(m, "todo:cloud") }, nil, "todo:cloud", "is required"},
		{"missing secret", func(m map[string]string) { delete(m, "todo:databaseUrl") }, nil, "todo:databaseUrl", "pulumi config set --secret todo:databaseUrl"},
		{"empty secret is missing", func(m map[string]string) { m["todo:jwtSecret"] = "" }, nil, "todo:jwtSecret", "required secret is not set"},
		{"plaintext secret", nil, []string{"todo:internalToken"}, "todo:internalToken", "stored in plaintext"},
		{"bad partitions", func(m map[string]string) { m["todo:kafka"] = `{"partitions":0}` }, nil, "todo:kafka", "partitions must be within 1..1024"},
		{"replication above nodes", func(m map[string]string) { m["todo:kafka"] = `{"nodes":1,"replicationFactor":3}` }, nil, "todo:kafka", "replicationFactor must be within 1..nodes (1)"},
		{"typo in object", func(m map[string]string) { m["todo:kafka"] = `{"partition":3}` }, nil, "todo:kafka", `unknown field "partition"`},
		{"bad size", func(m map[string]string) { m["todo:apps"] = `{"taskapi":{"memoryLimit":"lots"}}` }, nil, "todo:apps", "taskapi"},
		{"unknown service", func(m map[string]string) { m["todo:apps"] = `{"todoapi":{}}` }, nil, "todo:apps", `unknown service "todoapi"`},
		{"dapr transport without dapr", func(m map[string]string) {
			m["todo:eventsTransport"] = "dapr"
			m["todo:dapr"] = `{"enabled":false}`
		}, nil, "todo:dapr", "dapr.enabled is false"},
		{"bad boolean", func(m map[string]string) { m["todo:skipAwait"] = "yes" }, nil, "todo:skipAwait", "not a boolean"},
		{"none without digest", func(m map[string]string) { m["todo:images"] = `{"publish":"none"}` }, nil, "todo:images", "needs digest"},
		{"cloud without region", func(m map[string]string) {
			m["todo:cloud"] = "aks"
			m["todo:images"] = `{"publish":"push"}`
		}, nil, "todo:cluster", "region is required on aks"},
		{"wrong kafka for cloud", func(m map[string]string) { m["todo:kafka"] = `{"provider":"eventhubs"}` }, nil, "todo:kafka", `provider "eventhubs" is not available on minikube`},
		{"external kafka password", func(m map[string]string) {
			m["todo:kafka"] = `{"provider":"external","brokers":"k:9093","saslMechanism":"PLAIN","username":"u"}`
		}, nil, "todo:kafkaPassword", "required secret is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := valid()
			if tt.change != nil {
				tt.change(m)
			}
			_, err := parse(t, m, tt.plain...)
			if err == nil {
				t.Fatal("no error")
			}
			want := "config " + tt.wantKey + ": "
			for line := range strings.SplitSeq(err.Error(), "\n") {
				if strings.HasPrefix(line, want) && strings.Contains(line, tt.wantMsg) {
					return
				}
			}
			t.Errorf("error %q does not name %s with %q", err, tt.wantKey, tt.wantMsg)
		})
	}
}

// The defaults declared in Pulumi.yaml are the ones the program applies.
func TestPulumiYAMLDefaults(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var project struct {
		Name   string
		Config map[string]struct {
			Type        string
			Description string
			Secret      bool
			Default     any
		}
	}
	if err := yaml.Unmarshal(raw, &project); err != nil {
		t.Fatal(err)
	}
	if project.Name != "todo" {
		t.Fatalf("project name = %q", project.Name)
	}
	d := Defaults()
	want := map[string]any{
		"namespace": d.Namespace, "logLevel": d.LogLevel, "eventsTransport": d.EventsTransport, "skipAwait": d.SkipAwait, "apps": d.Apps,
	}
	sections := reflect.ValueOf(d.Sections)
	for i := range sections.NumField() {
		want[sections.Type().Field(i).Tag.Get("key")] = sections.Field(i).Interface()
	}
	for key, def := range want {
		decl, ok := project.Config[key]
		if !ok {
			t.Errorf("Pulumi.yaml does not declare %s", key)
			continue
		}
		if decl.Description == "" {
			t.Errorf("%s has no description", key)
		}
		got := reflect.New(reflect.TypeOf(def))
		js, err := json.Marshal(decl.Default)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(js))
		dec.DisallowUnknownFields()
		if err := dec.Decode(got.Interface()); err != nil {
			t.Errorf("%s: default %s: %v", key, js, err)
			continue
		}
		if !reflect.DeepEqual(got.Elem().Interface(), def) {
			t.Errorf("%s: Pulumi.yaml default %+v, program default %+v", key, got.Elem().Interface(), def)
		}
	}
	for _, k := range append([]string{"cloud"}, SecretKeys...) {
		if decl, ok := project.Config[k]; !ok || decl.Description == "" {
			t.Errorf("Pulumi.yaml does not describe %s", k)
		}
	}
	for k := range project.Config {
		if _, ok := want[k]; !ok && k != "cloud" && !contains(SecretKeys, k) {
			t.Errorf("Pulumi.yaml declares %s, which the program does not read", k)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestRuntimeRole: with databaseOwnerUrl the services run as databaseUrl's
// user, which must be another role than the owner; no URL (nor password)
// shows in an error.
func TestRuntimeRole(t *testing.T) {
	t.Parallel()
	role, err := RuntimeRole("postgresql://todo_app:s3cret@ep-x-pooler.neon.tech/todo?sslmode=require", "postgresql://neondb_owner:0wner@ep-x.neon.tech/todo?sslmode=require")
	if err != nil || role != "todo_app" {
		t.Errorf("RuntimeRole = %q, %v, want todo_app", role, err)
	}
	for _, c := range []struct{ db, owner string }{
		{"postgresql://neondb_owner:s3cret@ep-x-pooler.neon.tech/todo", "postgresql://neondb_owner:0wner@ep-x.neon.tech/todo"},
		{"postgresql://todo_app:s3cret@ep-x-pooler.neon.tech/todo", "not a url 0wner"},
		{"postgresql://ep-x-pooler.neon.tech/todo?password=s3cret", "postgresql://neondb_owner:0wner@ep-x.neon.tech/todo"},
	} {
		_, err := RuntimeRole(c.db, c.owner)
		if err == nil {
			t.Errorf("RuntimeRole(%q, %q) accepted", c.db, c.owner)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "0wner") || strings.Contains(err.Error(), "neon.tech") {
			t.Errorf("the error shows a URL: %v", err)
		}
	}
}
