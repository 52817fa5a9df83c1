package platform

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	sdkconfig "github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"go.yaml.in/yaml/v3"

	"github.com/todo-platform/todo/infra/config"
)

// devPassphrases are the published passphrases of the development stacks'
// secrets (see stacks/Pulumi.minikube.yaml and stacks/Pulumi.local.yaml).
var devPassphrases = map[string]string{"minikube": "todo-minikube-dev", "local": "todo-local-dev"}

// fakeDigest stands in for the image digests: the mock tests do not build
// images (images.publish "none").
const fakeDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// stackConfig is a stack's configuration as the engine would hand it to the
// program: the stack file's values (secrets decrypted) over the project
// defaults of Pulumi.yaml.
type stackConfig struct {
	values     map[string]string
	secretKeys []string
	// secrets are the plaintext secret values, which must never appear
	// outside a secret.
	secrets []string
}

// loadStack reads stacks/Pulumi.<stack>.yaml.
func loadStack(t *testing.T, stack string) *stackConfig {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "stacks", "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sc, err := parseStack(t, stack, raw)
	if err != nil {
		t.Fatalf("stacks/Pulumi.%s.yaml: %v", stack, err)
	}
	return sc
}

// parseStack reads a stack file over the project defaults of Pulumi.yaml.
// Secrets must be ciphertext (secure:), never plaintext. The development
// stacks' ciphertext is decrypted with their published passphrase; a cloud
// stack's is encrypted by its secrets provider (Pulumi Cloud), which the
// test cannot reach, so it stands for a value set by the operators and the
// test uses a recognisable stand-in.
func parseStack(t *testing.T, stack string, raw []byte) (*stackConfig, error) {
	t.Helper()
	var file struct {
		EncryptionSalt string         `yaml:"encryptionsalt"`
		Config         map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		return nil, err
	}
	var project struct {
		Config map[string]struct {
			Default any `yaml:"default"`
		} `yaml:"config"`
	}
	pr, err := os.ReadFile(filepath.Join("..", "..", "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(pr, &project); err != nil {
		t.Fatal(err)
	}

	sc := &stackConfig{values: map[string]string{}}
	_, dev := devPassphrases[stack]
	var crypter sdkconfig.Crypter
	var errs []error
	for key, v := range file.Config {
		if m, ok := v.(map[string]any); ok {
			if ct, ok := m["secure"].(string); ok {
				pt := standIn(stack, key)
				if dev {
					if crypter == nil {
						crypter = passphraseCrypter(t, stack, file.EncryptionSalt)
					}
					if pt, err = crypter.DecryptValue(context.Background(), ct); err != nil {
						return nil, fmt.Errorf("decrypt %s: %w", key, err)
					}
				}
				sc.setSecret(key, pt)
				continue
			}
		}
		if name, ok := strings.CutPrefix(key, "todo:"); ok && slices.Contains(config.SecretKeys, name) {
			errs = append(errs, fmt.Errorf("%s is a secret in plaintext; set it with pulumi config set --secret", key))
			continue
		}
		sc.values[key] = configString(t, v)
	}
	for key, decl := range project.Config {
		full := "todo:" + key
		if _, set := sc.values[full]; !set && decl.Default != nil {
			sc.values[full] = configString(t, decl.Default)
		}
	}
	sort.Strings(sc.secretKeys)
	return sc, errors.Join(errs...)
}

// standIn is the test's value of a secret the operators set.
func standIn(stack, key string) string {
	return fmt.Sprintf("TEST-SECRET-%s-%s", stack, strings.TrimPrefix(key, "todo:"))
}

// setSecret sets a secret key the way `pulumi config set --secret` would.
func (sc *stackConfig) setSecret(key, value string) {
	sc.values[key] = value
	sc.secretKeys = append(sc.secretKeys, key)
	sc.secrets = append(sc.secrets, value)
}

// merge sets fields of an object key.
func (sc *stackConfig) merge(t *testing.T, key string, fields map[string]any) {
	t.Helper()
	obj := map[string]any{}
	if raw, ok := sc.values[key]; ok && raw != "" {
		if err := json.Unmarshal([]byte(raw), &obj); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
	}
	for k, v := range fields {
		obj[k] = v
	}
	sc.values[key] = configString(t, obj)
}

func configString(t *testing.T, v any) string {
	t.Helper()
	switch x := v.(type) {
	case string:
		return x
	case bool, int, float64:
		return fmt.Sprint(x)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

func passphraseCrypter(t *testing.T, stack, salt string) sdkconfig.Crypter {
	t.Helper()
	// v1:<base64 salt>:<"pulumi" encrypted, to check the passphrase>
	parts := strings.SplitN(salt, ":", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		t.Fatalf("encryptionsalt %q", salt)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	phrase, ok := devPassphrases[stack]
	if !ok {
		t.Fatalf("the %s stack holds secrets, but only development stacks may (with a published passphrase)", stack)
	}
	c := sdkconfig.NewSymmetricCrypterFromPassphrase(phrase, raw)
	if check, err := c.DecryptValue(context.Background(), parts[2]); err != nil || check != "pulumi" {
		t.Fatalf("the %s stack is not encrypted with the documented passphrase %q", stack, phrase)
	}
	return c
}

// record is one registered resource.
type record struct {
	Type, Name, URN, Parent, Provider string
	Custom, Remote                    bool
	Inputs                            resource.PropertyMap
	Deps                              []string
	Providers                         map[string]string
	IgnoreChanges                     []string
}

// mocks answer the engine's calls with plausible cloud outputs and record
// every registered resource.
type mocks struct {
	mu      sync.Mutex
	project string
	stack   string
	records []*record
	// calls are the tokens of the functions the program invoked.
	calls []string
}

// urn is the mock monitor's URN of a resource.
func (m *mocks) urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(m.stack), tokens.PackageName(m.project), parentType, tokens.Type(typ), name))
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	r := &record{
		Type:      args.TypeToken,
		Name:      args.Name,
		Parent:    rpc.GetParent(),
		Provider:  args.Provider,
		Custom:    args.Custom,
		Remote:    rpc.GetRemote(),
		Inputs:    args.Inputs,
		Deps:      rpc.GetDependencies(),
		Providers: rpc.GetProviders(),

		IgnoreChanges: rpc.GetIgnoreChanges(),
	}
	r.URN = m.urn(r.Parent, r.Type, r.Name)
	m.mu.Lock()
	m.records = append(m.records, r)
	m.mu.Unlock()

	state := args.Inputs.Copy()
	set := func(k string, v any) { state[resource.PropertyKey(k)] = resource.NewPropertyValue(v) }
	str := func(k string) string {
		if v, ok := args.Inputs[resource.PropertyKey(k)]; ok && v.IsString() {
			return v.StringValue()
		}
		return ""
	}
	id := args.Name + "-id"
	switch args.TypeToken {
	case "azure-native:resources:ResourceGroup":
		set("name", or(str("resourceGroupName"), args.Name))
	case "azure-native:containerregistry:Registry":
		set("name", str("registryName"))
		set("loginServer", str("registryName")+".azurecr.io")
	case "azure-native:containerservice:ManagedCluster":
		set("name", args.Name)
		set("identityProfile", map[string]any{"kubeletidentity": map[string]any{"objectId": "11111111-2222-3333-4444-555555555555"}})
		id = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/" + args.Name
	case "azure-native:eventhub:Namespace":
		set("name", "todo-events-ns")
	case "azure-native:eventhub:NamespaceAuthorizationRule":
		set("name", str("authorizationRuleName"))
	case "gcp:container/cluster:Cluster":
		set("name", args.Name)
		set("endpoint", "203.0.113.10")
		set("masterAuth", map[string]any{"clusterCaCertificate": base64.StdEncoding.EncodeToString([]byte("test CA"))})
	case "gcp:artifactregistry/repository:Repository":
		set("name", str("repositoryId"))
	case "gcp:serviceaccount/account:Account":
		email := str("accountId") + "@" + str("project") + ".iam.gserviceaccount.com"
		set("email", email)
		set("member", "serviceAccount:"+email)
		set("name", "projects/"+str("project")+"/serviceAccounts/"+email)
	case "gcp:serviceaccount/key:Key":
		state["privateKey"] = resource.MakeSecret(resource.NewPropertyValue("c2VydmljZS1hY2NvdW50LWtleQ=="))
	case "digitalocean:index/kubernetesCluster:KubernetesCluster":
		state["kubeConfigs"] = resource.MakeSecret(resource.NewPropertyValue([]any{map[string]any{"rawConfig": "apiVersion: v1\nkind: Config\n"}}))
		set("vpcUuid", "vpc-0000")
		id = "doks-cluster-id"
	case "digitalocean:index/containerRegistry:ContainerRegistry":
		set("serverUrl", "registry.digitalocean.com")
	case "digitalocean:index/containerRegistryDockerCredentials:ContainerRegistryDockerCredentials":
		auth := base64.StdEncoding.EncodeToString([]byte("do-token:do-token"))
		state["dockerCredentials"] = resource.MakeSecret(resource.NewPropertyValue(`{"auths":{"registry.digitalocean.com":{"auth":"` + auth + `"}}}`))
	case "digitalocean:index/databaseCluster:DatabaseCluster":
		set("host", "todo-kafka-do-user-0.db.ondigitalocean.com")
		set("privateHost", "private-todo-kafka-do-user-0.db.ondigitalocean.com")
		set("port", 25073)
		id = "kafka-cluster-id"
	case "digitalocean:index/databaseUser:DatabaseUser":
		state["password"] = resource.MakeSecret(resource.NewPropertyValue("kafka-user-password"))
	}
	if strings.HasPrefix(args.TypeToken, "kubernetes:") && args.Custom {
		// Server-side autonaming of objects without a name.
		if md, ok := state["metadata"]; ok && md.IsObject() {
			obj := md.ObjectValue().Copy()
			if n, ok := obj["name"]; !ok || n.IsNull() {
				obj["name"] = resource.NewPropertyValue(args.Name + "-abc123")
				state["metadata"] = resource.NewPropertyValue(obj)
			}
		}
	}
	if !args.Custom {
		id = ""
	}
	return id, state, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, args.Token)
	m.mu.Unlock()
	switch args.Token {
	case "azure-native:authorization:getClientConfig":
		return resource.NewPropertyMapFromMap(map[string]any{
			"subscriptionId": "00000000-0000-0000-0000-000000000001", "tenantId": "t", "clientId": "c", "objectId": "o",
		}), nil
	case "azure-native:containerservice:listManagedClusterUserCredentials":
		kc := base64.StdEncoding.EncodeToString([]byte("apiVersion: v1\nkind: Config\n"))
		return resource.NewPropertyMapFromMap(map[string]any{
			"kubeconfigs": []any{map[string]any{"name": "clusterUser", "value": kc}},
		}), nil
	case "azure-native:eventhub:listNamespaceKeys":
		return resource.NewPropertyMapFromMap(map[string]any{
			"primaryConnectionString": "Endpoint=sb://todo-events-ns.servicebus.windows.net/;SharedAccessKeyName=todo-services;SharedAccessKey=eventhubs-key",
			"keyName":                 "todo-services",
		}), nil
	case "gcp:organizations/getClientConfig:getClientConfig":
		return resource.NewPropertyMapFromMap(map[string]any{"accessToken": "gcp-access-token", "project": "p", "region": "r", "zone": "z", "id": "x"}), nil
	case "digitalocean:index/getKubernetesVersions:getKubernetesVersions":
		return resource.NewPropertyMapFromMap(map[string]any{
			"latestVersion": "1.33.1-do.0", "validVersions": []any{"1.33.1-do.0"}, "id": "v",
		}), nil
	case "digitalocean:index/getDatabaseCa:getDatabaseCa":
		return resource.NewPropertyMapFromMap(map[string]any{
			"certificate": "-----BEGIN CERTIFICATE-----\nZG8tY2E=\n-----END CERTIFICATE-----\n", "id": "ca",
		}), nil
	}
	return nil, fmt.Errorf("unexpected call %s", args.Token)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// run runs the program under mocks with the stack's configuration and
// returns what it registered and its outputs.
type result struct {
	records  []*record
	calls    []string
	outputs  map[string]any
	secretOf map[string]bool
}

func run(t *testing.T, stack string, sc *stackConfig) (*result, error) {
	t.Helper()
	m := &mocks{project: "todo", stack: stack}
	res := &result{outputs: map[string]any{}, secretOf: map[string]bool{}}
	var outs map[string]pulumi.Output
	var omu sync.Mutex
	withConfig := func(info *pulumi.RunInfo) {
		info.Config = sc.values
		info.ConfigSecretKeys = sc.secretKeys
	}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		out, err := Deploy(ctx)
		if err != nil {
			return err
		}
		outs = map[string]pulumi.Output{}
		for k, v := range out {
			o := pulumi.ToOutput(v)
			outs[k] = o
			// Exporting the applied output makes RunErr wait for the
			// callback, so res.outputs is complete when it returns.
			ctx.Export(k, o.ApplyT(func(x any) any {
				omu.Lock()
				res.outputs[k] = x
				omu.Unlock()
				return x
			}))
		}
		return nil
	}, pulumi.WithMocks("todo", stack, m), withConfig)
	for k, o := range outs {
		res.secretOf[k] = pulumi.IsSecret(o)
	}
	res.records = m.records
	res.calls = m.calls
	return res, err
}
