package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/todo-platform/todo/tests/toolchain"
)

// certificates writes the CA, the serving and client certificates of every
// component, the service account keys, and the kubeconfigs.
func (c *Cluster) certificates(context.Context) error {
	p, err := newPKI(filepath.Join(c.dir, "pki"))
	if err != nil {
		return err
	}
	c.pki = p
	loopback, node, apiSvc := net.ParseIP("127.0.0.1"), net.ParseIP(NodeIP), net.ParseIP(APIServiceIP)
	specs := []certSpec{
		{file: "apiserver", cn: "kube-apiserver", server: true, ips: []net.IP{node, apiSvc, loopback},
			dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + ClusterDomain, "localhost"}},
		{file: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true},
		{file: "admin", cn: "todo-admin", orgs: []string{"system:masters"}, client: true},
		{file: "controller-manager", cn: "system:kube-controller-manager", client: true},
		{file: "scheduler", cn: "system:kube-scheduler", client: true},
		{file: "kube-proxy", cn: "system:kube-proxy", client: true},
		{file: "kube-router", cn: kubeRouterUser, client: true},
		{file: "kubelet-client", cn: "system:node:" + NodeName, orgs: []string{"system:nodes"}, client: true},
		{file: "kubelet", cn: NodeName, server: true, ips: []net.IP{node, loopback}, dns: []string{NodeName, "localhost"}},
	}
	for _, s := range specs {
		if err := p.issue(s); err != nil {
			return err
		}
	}
	if err := p.serviceAccountKeys(); err != nil {
		return err
	}
	server := "https://" + net.JoinHostPort(NodeIP, strconv.Itoa(APIPort))
	c.State.Server = server
	for _, k := range []struct{ file, cert string }{
		{"controller-manager.kubeconfig", "controller-manager"},
		{"scheduler.kubeconfig", "scheduler"},
		{"kube-proxy.kubeconfig", "kube-proxy"},
		{"kube-router.kubeconfig", "kube-router"},
		{"kubelet.kubeconfig", "kubelet-client"},
		{"kubeconfig", "admin"},
	} {
		text, err := p.kubeconfig(server, Context, k.cert)
		if err != nil {
			return err
		}
		path := filepath.Join(c.dir, "conf", k.file)
		if k.file == "kubeconfig" {
			path = filepath.Join(c.dir, "kubeconfig")
			c.State.Kubeconfig = path
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// startEtcd runs etcd on loopback only: nothing but the API server talks to
// it.
func (c *Cluster) startEtcd(ctx context.Context) error {
	bin, err := toolchain.Path(toolchain.Etcd)
	if err != nil {
		return err
	}
	ports, err := toolchain.FreePorts(ctx, 2)
	if err != nil {
		return err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peer := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	// A fresh etcd each start: the cluster's objects are recreated by the
	// deployment, and a stale member would not match the new certificates.
	data := filepath.Join(c.dir, "etcd")
	if err := os.RemoveAll(data); err != nil {
		return err
	}
	p, err := c.start("etcd", bin,
		"--name=todo", "--data-dir="+data,
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=todo="+peer, "--initial-cluster-state=new",
		"--unsafe-no-fsync=true", "--log-level=warn",
	)
	if err != nil {
		return err
	}
	c.etcdURL = client
	hc := &http.Client{Timeout: 2 * time.Second}
	return waitFor(p, time.Minute, func() error { return httpOK(ctx, hc, client+"/health", "") })
}

// startAPIServer runs kube-apiserver on the node address.
func (c *Cluster) startAPIServer(ctx context.Context) error {
	bin, err := toolchain.Path(toolchain.KubeAPIServer)
	if err != nil {
		return err
	}
	f := c.pki.path
	p, err := c.start("kube-apiserver", bin,
		"--etcd-servers="+c.etcdURL,
		"--bind-address="+NodeIP, "--advertise-address="+NodeIP, "--secure-port="+strconv.Itoa(APIPort),
		"--tls-cert-file="+f("apiserver.crt"), "--tls-private-key-file="+f("apiserver.key"),
		"--client-ca-file="+f("ca.crt"),
		"--kubelet-client-certificate="+f("apiserver-kubelet-client.crt"), "--kubelet-client-key="+f("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority="+f("ca.crt"), "--kubelet-preferred-address-types=InternalIP",
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--service-account-issuer=https://kubernetes.default.svc."+ClusterDomain,
		"--service-account-key-file="+f("sa.pub"), "--service-account-signing-key-file="+f("sa.key"),
		"--service-cluster-ip-range="+ServiceCIDR,
		// Webhooks (the Dapr sidecar injector) are called at their
		// endpoints' pod IPs, not through kube-proxy.
		"--enable-aggregator-routing=true",
		"--allow-privileged=true", "--profiling=false", "--v=0",
	)
	if err != nil {
		return err
	}
	hc, err := c.adminClient()
	if err != nil {
		return err
	}
	return waitFor(p, 2*time.Minute, func() error { return httpOK(ctx, hc, c.State.Server+"/readyz", "") })
}

// startControllers runs kube-controller-manager and kube-scheduler.
func (c *Cluster) startControllers(ctx context.Context) error {
	cm, err := toolchain.Path(toolchain.KubeControllerManager)
	if err != nil {
		return err
	}
	sched, err := toolchain.Path(toolchain.KubeScheduler)
	if err != nil {
		return err
	}
	ports, err := toolchain.FreePorts(ctx, 2)
	if err != nil {
		return err
	}
	f := c.pki.path
	conf := func(name string) string { return filepath.Join(c.dir, "conf", name) }
	pcm, err := c.start("kube-controller-manager", cm,
		"--kubeconfig="+conf("controller-manager.kubeconfig"),
		"--authentication-kubeconfig="+conf("controller-manager.kubeconfig"),
		"--authorization-kubeconfig="+conf("controller-manager.kubeconfig"),
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[0]),
		"--cluster-signing-cert-file="+f("ca.crt"), "--cluster-signing-key-file="+f("ca.key"),
		"--root-ca-file="+f("ca.crt"),
		"--service-account-private-key-file="+f("sa.key"),
		"--use-service-account-credentials=true",
		"--service-cluster-ip-range="+ServiceCIDR, "--cluster-cidr="+PodCIDR, "--allocate-node-cidrs=false",
		"--controllers=*,bootstrapsigner,tokencleaner",
		"--leader-elect=false", "--profiling=false", "--v=0",
	)
	if err != nil {
		return err
	}
	ps, err := c.start("kube-scheduler", sched,
		"--kubeconfig="+conf("scheduler.kubeconfig"),
		"--authentication-kubeconfig="+conf("scheduler.kubeconfig"),
		"--authorization-kubeconfig="+conf("scheduler.kubeconfig"),
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[1]),
		"--leader-elect=false", "--profiling=false", "--v=0",
	)
	if err != nil {
		return err
	}
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // G402: the self-signed /healthz of a local component.
	}}
	if err := waitFor(pcm, 2*time.Minute, func() error {
		return httpOK(ctx, insecure, "https://127.0.0.1:"+strconv.Itoa(ports[0])+"/healthz", "")
	}); err != nil {
		return err
	}
	return waitFor(ps, 2*time.Minute, func() error {
		return httpOK(ctx, insecure, "https://127.0.0.1:"+strconv.Itoa(ports[1])+"/healthz", "")
	})
}

// adminClient is an HTTP client with the admin's client certificate.
func (c *Cluster) adminClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(c.pki.path("admin.crt"), c.pki.path("admin.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.pki.caPEM)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}}, nil
}

// httpOK GETs url and wants 200 (and, when set, want in the body).
func httpOK(ctx context.Context, hc *http.Client, url, want string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, body)
	}
	if want != "" && !contains(body, want) {
		return fmt.Errorf("GET %s: %s", url, body)
	}
	return nil
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }
