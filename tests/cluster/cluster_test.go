package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The components' certificates chain to the cluster CA, with the names and
// groups the API server's authorizers read.
func TestPKIIssuesWhatTheAuthorizersRead(t *testing.T) {
	p, err := newPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.issue(certSpec{file: "kubelet-client", cn: "system:node:" + NodeName, orgs: []string{"system:nodes"}, client: true}); err != nil {
		t.Fatal(err)
	}
	if err := p.issue(certSpec{file: "apiserver", cn: "kube-apiserver", server: true, ips: []net.IP{net.ParseIP(NodeIP)}, dns: []string{"kubernetes.default.svc"}}); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.caPEM)
	for _, c := range []struct {
		file  string
		usage x509.ExtKeyUsage
		name  string
	}{
		{"kubelet-client", x509.ExtKeyUsageClientAuth, ""},
		{"apiserver", x509.ExtKeyUsageServerAuth, NodeIP},
	} {
		pair, err := tls.LoadX509KeyPair(p.path(c.file+".crt"), p.path(c.file+".key"))
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{c.usage}, DNSName: c.name}); err != nil {
			t.Errorf("%s: %v", c.file, err)
		}
		if c.file == "kubelet-client" && (leaf.Subject.CommonName != "system:node:"+NodeName || len(leaf.Subject.Organization) != 1 || leaf.Subject.Organization[0] != "system:nodes") {
			t.Errorf("kubelet client subject %v: the Node authorizer wants system:node:<name> in system:nodes", leaf.Subject)
		}
	}
	if fi, err := os.Stat(p.path("kubelet-client.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}

	// The kubeconfig embeds the CA and the client pair.
	text, err := p.kubeconfig("https://"+NodeIP+":6443", Context, "kubelet-client")
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		CurrentContext string `yaml:"current-context"`
		Clusters       []struct {
			Cluster struct {
				Server string `yaml:"server"`
				CA     string `yaml:"certificate-authority-data"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
	}
	if err := yaml.Unmarshal([]byte(text), &kc); err != nil {
		t.Fatal(err)
	}
	ca, _ := base64.StdEncoding.DecodeString(kc.Clusters[0].Cluster.CA)
	if kc.CurrentContext != Context || kc.Clusters[0].Cluster.Server != "https://"+NodeIP+":6443" || string(ca) != string(p.caPEM) {
		t.Errorf("kubeconfig:\n%s", text)
	}
}

// Mount points with spaces come escaped in mountinfo.
func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/a/b`:          "/a/b",
		`/a\040b/c`:     "/a b/c",
		`/x\011y\134z`:  "/x\ty\\z",
		`/trailing\04`:  `/trailing\04`,
		`/plain\dir\01`: `/plain\dir\01`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

// The cluster's addresses stay in the 198.18.0.0/15 test range, and the
// node's configuration files name them.
func TestAddressesAndConfigs(t *testing.T) {
	_, testRange, _ := net.ParseCIDR("198.18.0.0/15")
	for _, a := range []string{NodeIP, APIServiceIP, DNSServiceIP} {
		if !testRange.Contains(net.ParseIP(a)) {
			t.Errorf("%s is outside 198.18.0.0/15", a)
		}
	}
	for _, cidr := range []string{PodCIDR, ServiceCIDR} {
		ip, n, err := net.ParseCIDR(cidr)
		if err != nil || !testRange.Contains(ip) {
			t.Errorf("%s is outside 198.18.0.0/15", cidr)
		}
		if n.Contains(net.ParseIP(APIServiceIP)) != (cidr == ServiceCIDR) {
			t.Errorf("%s and the API service IP %s", cidr, APIServiceIP)
		}
	}
	c := &Cluster{dir: "/state", State: State{Images: map[string]string{"pause": Registry + "/" + MirrorRepo + "/pause@sha256:00"}}}
	cfg := c.expand(containerdConfig)
	for _, want := range []string{
		`sandbox_image = "127.0.0.1:5050/todo-cluster/pause@sha256:00"`,
		`restrict_oom_score_adj = true`,
		`netns_mounts_under_state_dir = true`,
		`endpoint = ["http://127.0.0.1:5050"]`,
		`address = "/state/containerd/containerd.sock"`,
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("containerd config lacks %s:\n%s", want, cfg)
		}
	}
	if strings.Contains(c.expand(cniConfig), "{{") || strings.Contains(c.expand(kubeletConfig), "{{dir}}") {
		t.Error("a placeholder is left in the node configuration")
	}
}

func TestClusterRulesAndSets(t *testing.T) {
	for line, want := range map[string]bool{
		`-A FORWARD -m comment --comment "kube-router netpol - TEMCG2JMHZYE7H7T" -j KUBE-ROUTER-FORWARD`:                                                         true,
		`-A INPUT -m comment --comment "KUBE-ROUTER rule to explicitly ACCEPT traffic that comply to network policies" -m mark --mark 0x20000/0x20000 -j ACCEPT`: true,
		`-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD`:                                                                          true,
		`-A POSTROUTING -s 198.18.0.0/16 -m comment --comment "name: \"todo\" id: \"abc\"" -j CNI-0123456789abcdef`:                                              true,
		`-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT`:                                                                                                            false,
		`-A FORWARD -m comment --comment "a rule of someone else that mentions kube-router" -j DOCKER`:                                                           false,
	} {
		if got := clusterRule(line); got != want {
			t.Errorf("clusterRule(%s) = %v, want %v", line, got, want)
		}
	}
	for name, want := range map[string]bool{
		"KUBE-SRC-ABCDEFGHIJKLMNOP": true, "KUBE-DST-ABCDEFGHIJKLMNOP": true, "inet6:KUBE-DST-ABCDEFGHIJKLMNOP": true,
		"docker-allow": false, "KUBE-NODE-PORT": false,
	} {
		if got := clusterIPSet(name); got != want {
			t.Errorf("clusterIPSet(%s) = %v, want %v", name, got, want)
		}
	}
}
