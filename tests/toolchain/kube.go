package toolchain

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartupTimeout bounds how long StartKubeAPIServer waits for etcd and for
// kube-apiserver's /readyz (each normally takes a few seconds).
var StartupTimeout = 90 * time.Second

// AdminUser is the user name of the admin credentials in the kubeconfig
// written by StartKubeAPIServer; it is in the system:masters group.
const AdminUser = "admin"

// StartKubeAPIServer starts etcd and kube-apiserver (the binaries from the
// tools cache, see Path) listening on free 127.0.0.1 ports, with a CA,
// serving certificate, service-account signing key and static admin token
// generated in t.TempDir(). It waits for /readyz and returns the path of a
// kubeconfig (context "toolchain", namespace "default") with the admin token,
// which is in the system:masters group (authorization mode RBAC).
//
// Only the API server runs: there is no controller-manager, scheduler or
// kubelet, so objects are stored and validated, but no pods ever run and
// Deployments never become ready.
//
// Both processes are stopped by t.Cleanup. The test fails (t.Fatal) when a
// binary is missing (with a hint to run `make tools`) or either process does
// not come up; their logs are kept in the temporary directory and their last
// lines are reported.
func StartKubeAPIServer(t testing.TB) (kubeconfigPath string) {
	t.Helper()
	etcdBin, err := Path(Etcd)
	if err != nil {
		t.Fatal(err)
	}
	apiserverBin, err := Path(KubeAPIServer)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	pki, err := writePKI(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatalf("toolchain: generating certificates: %v", err)
	}

	etcdURL := startEtcd(t, etcdBin, dir)
	server := startAPIServer(t, apiserverBin, dir, etcdURL, pki)

	kubeconfigPath = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, []byte(kubeconfig(server, pki.caPEM, pki.token)), 0o600); err != nil {
		t.Fatalf("toolchain: writing kubeconfig: %v", err)
	}
	return kubeconfigPath
}

type pkiFiles struct {
	dir       string
	caPEM     []byte
	caFile    string
	certFile  string
	keyFile   string
	saPubFile string
	saKeyFile string
	tokenFile string
	token     string
}

func writePKI(dir string) (*pkiFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pkiFiles{
		dir:       dir,
		caFile:    filepath.Join(dir, "ca.crt"),
		certFile:  filepath.Join(dir, "apiserver.crt"),
		keyFile:   filepath.Join(dir, "apiserver.key"),
		saPubFile: filepath.Join(dir, "sa.pub"),
		saKeyFile: filepath.Join(dir, "sa.key"),
		tokenFile: filepath.Join(dir, "tokens.csv"),
	}
	now := time.Now()

	// Certificate authority.
	caCert, caKey, caPEM, err := NewCA(pkix.Name{CommonName: "todo-platform-e2e-ca"}, randomSerial(), now.Add(7*24*time.Hour))
	if err != nil {
		return nil, err
	}
	p.caPEM = caPEM

	// Serving certificate for 127.0.0.1 and the in-cluster names.
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 0, 0, 1)},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	srvKeyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		return nil, err
	}

	// Service-account token signing key.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}

	// Static admin token.
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	p.token = hex.EncodeToString(tok)

	files := []struct {
		path string
		data []byte
	}{
		{p.caFile, p.caPEM},
		{p.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER})},
		{p.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: srvKeyDER})},
		{p.saKeyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})},
		{p.saPubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER})},
		// token,user,uid,"group1,group2"
		{p.tokenFile, []byte(fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", p.token, AdminUser, AdminUser))},
	}
	for _, f := range files {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// NewCA makes a self-signed ECDSA P-256 certificate authority, valid from
// an hour ago until notAfter: its certificate, key and the certificate as
// PEM.
func NewCA(subject pkix.Name, serial *big.Int, notAfter time.Time) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}

// FreePorts finds n distinct free TCP ports on loopback.
func FreePorts(ctx context.Context, n int) ([]int, error) {
	var lc net.ListenConfig
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Process is a started tool whose output goes to a log file.
type Process struct {
	Name    string
	LogPath string
	Cmd     *exec.Cmd
	done    chan struct{}
	err     error // valid once done is closed
}

// StartProcess starts cmd as the tool name, its output appended to
// logPath. started (nil: none) runs once the process has started (to move
// it into a cgroup, say); if it fails, the process is killed.
func StartProcess(name, logPath string, cmd *exec.Cmd, started func(pid int) error) (*Process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // G304: the caller's own log folder.
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if started != nil {
		if err := started(cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = logFile.Close()
			return nil, err
		}
	}
	p := &Process{Name: name, LogPath: logPath, Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended, once it has exited.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Stop sends SIGTERM, then SIGKILL after grace, and waits for the process.
func (p *Process) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.done
	}
}

// Tail returns the last n lines of the process log, for failure messages.
func (p *Process) Tail(n int) string {
	data, err := os.ReadFile(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogPath, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("last lines of %s (%s):\n\t%s", p.Name, p.LogPath, strings.Join(lines, "\n\t"))
}

// waitReady polls check until it succeeds, the process exits or the timeout
// passes.
func waitReady(p *Process, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited before becoming ready (%w)", p.Name, p.Err())
		}
		if last = check(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", p.Name, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const startAttempts = 3

// startRetrying starts the tool name on nports fresh free ports (launch
// gives its binary, arguments and readiness check for them and the attempt)
// and waits until it is ready; it is stopped when the test ends. A tool
// that exits early most likely lost a port to another process: it is
// started again on new ports, up to startAttempts times.
func startRetrying(t testing.TB, name, dir string, nports int, launch func(ports []int, attempt int) (bin string, args []string, ready func() error)) {
	t.Helper()
	var lastErr error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		ports, err := FreePorts(context.Background(), nports)
		if err != nil {
			t.Fatalf("toolchain: finding free ports: %v", err)
		}
		bin, args, ready := launch(ports, attempt)
		cmd := exec.Command(bin, args...)
		cmd.SysProcAttr = sysProcAttr()
		p, err := StartProcess(name, filepath.Join(dir, fmt.Sprintf("%s-%d.log", name, attempt)), cmd, nil)
		if err != nil {
			t.Fatalf("toolchain: %v", err)
		}
		err = waitReady(p, StartupTimeout, ready)
		if err == nil {
			t.Cleanup(func() { p.Stop(15 * time.Second) })
			return
		}
		p.Stop(15 * time.Second)
		lastErr = fmt.Errorf("%w\n%s", err, p.Tail(30))
		if !p.Exited() || attempt == startAttempts {
			break
		}
	}
	t.Fatalf("toolchain: starting %s: %v", name, lastErr)
}

func startEtcd(t testing.TB, bin, dir string) (clientURL string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	startRetrying(t, "etcd", dir, 2, func(ports []int, attempt int) (string, []string, func() error) {
		clientURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
		peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
		dataDir := filepath.Join(dir, fmt.Sprintf("etcd-data-%d", attempt))
		return bin, []string{
			"--name=e2e",
			"--data-dir=" + dataDir,
			"--listen-client-urls=" + clientURL,
			"--advertise-client-urls=" + clientURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=e2e=" + peerURL,
			"--initial-cluster-state=new",
			"--unsafe-no-fsync=true", // throw-away data: durability does not matter
			"--log-level=warn",
		}, func() error { return checkGet(client, clientURL+"/health", "", `"health":"true"`) }
	})
	return clientURL
}

func startAPIServer(t testing.TB, bin, dir, etcdURL string, pki *pkiFiles) (serverURL string) {
	t.Helper()
	tlsConfig := &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}
	tlsConfig.RootCAs.AppendCertsFromPEM(pki.caPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	startRetrying(t, "kube-apiserver", dir, 1, func(ports []int, _ int) (string, []string, func() error) {
		serverURL = "https://127.0.0.1:" + strconv.Itoa(ports[0])
		return bin, KubeAPIServerArgs(etcdURL, ports[0], pki.dir),
			func() error { return checkGet(client, serverURL+"/readyz", pki.token, "") }
	})
	return serverURL
}

// checkGet is a readiness check: GET url (with token as a bearer, unless
// "") answers 200 OK, with a body that contains want.
func checkGet(client *http.Client, url, token, want string) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// KubeAPIServerArgs returns the kube-apiserver flags StartKubeAPIServer uses:
// etcd at etcdURL, HTTPS on 127.0.0.1:port, and the files written into
// pkiDir (ca.crt, apiserver.crt/.key, sa.pub/.key, tokens.csv).
func KubeAPIServerArgs(etcdURL string, port int, pkiDir string) []string {
	f := func(name string) string { return filepath.Join(pkiDir, name) }
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + f("apiserver.crt"),
		"--tls-private-key-file=" + f("apiserver.key"),
		"--client-ca-file=" + f("ca.crt"),
		"--token-auth-file=" + f("tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + f("sa.pub"),
		"--service-account-signing-key-file=" + f("sa.key"),
		"--service-cluster-ip-range=198.19.255.0/24", // a test range; no traffic: the API server has no nodes
		"--allow-privileged=true",
		"--profiling=false",
		"--v=0",
	}
}

// kubeconfig renders a kubeconfig for server with the admin bearer token.
func kubeconfig(server string, caPEM []byte, token string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: toolchain
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: toolchain
  context:
    cluster: toolchain
    user: %s
    namespace: default
current-context: toolchain
preferences: {}
`, server, base64.StdEncoding.EncodeToString(caPEM), AdminUser, token, AdminUser)
}
