package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/todo-platform/todo/pkg/pglocal"
	"github.com/todo-platform/todo/tests/toolchain"
)

// hostCommands are the distribution's programs the node needs (Debian
// packages containerd, runc, containernetworking-plugins, iptables,
// conntrack, iproute2, ipset); `make cluster` installs them when missing.
var hostCommands = []string{"containerd", "containerd-shim-runc-v2", "runc", "iptables", "ip6tables", "conntrack", "ip", "ipset"}

// CNIBinDir holds the CNI plugins (Debian's containernetworking-plugins).
const CNIBinDir = "/usr/lib/cni"

// preflight checks what Start needs before it changes anything.
func preflight() error {
	if os.Geteuid() != 0 {
		return errors.New("the local cluster needs root (containers, network namespaces, iptables)")
	}
	var missing []string
	for _, c := range hostCommands {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(CNIBinDir, p)); err != nil {
			missing = append(missing, filepath.Join(CNIBinDir, p))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing on this machine: %s (Debian: apt-get install containerd runc containernetworking-plugins iptables conntrack iproute2 ipset; `make cluster` does it)",
			strings.Join(missing, ", "))
	}
	for _, t := range []string{toolchain.Etcd, toolchain.KubeAPIServer, toolchain.KubeControllerManager, toolchain.KubeScheduler,
		toolchain.KubeProxy, toolchain.Kubelet, toolchain.Kubectl, toolchain.CoreDNS, toolchain.Daprd, toolchain.DaprOperator,
		toolchain.DaprInjector, toolchain.DaprSentry, toolchain.DaprPlacement, toolchain.DaprScheduler, toolchain.KubeRouter} {
		if _, err := toolchain.Path(t); err != nil {
			return err
		}
	}
	return nil
}

// record is the machine-wide note of the running cluster.
type record struct {
	Dir string `json:"dir"`
	PID int    `json:"pid"`
}

// claim refuses when a cluster runs on this machine (or waits up to wait
// for it to stop), cleans up after one that died, and records this one. A
// lock file makes the check and the record one step between processes.
func claim(ctx context.Context, dir string, wait time.Duration, progress io.Writer) error {
	deadline := time.Now().Add(wait)
	said := false
	for {
		err := claimOnce(ctx, dir, progress)
		if !errors.Is(err, ErrRunning) || wait <= 0 || time.Now().After(deadline) {
			return err
		}
		if !said {
			fmt.Fprintf(progress, "%v; waiting up to %s for it to stop\n", err, wait)
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func claimOnce(ctx context.Context, dir string, progress io.Writer) error {
	lock, err := os.OpenFile(recordPath+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = lock.Close() }()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil { //nolint:gosec // G115: a file descriptor fits an int.
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer func() { _ = syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) }() //nolint:gosec // G115: as above.
	if r, err := readRecord(); err == nil {
		if alive(r.PID) && r.PID != os.Getpid() {
			return fmt.Errorf("%w (state in %s, run by pid %d): stop it first (make cluster-down)", ErrRunning, r.Dir, r.PID)
		}
		fmt.Fprintf(progress, "a cluster in %s was not stopped (its process %d is gone): cleaning up after it\n", r.Dir, r.PID)
		if err := Cleanup(ctx, r.Dir, progress); err != nil {
			return err
		}
	} else if linkExists(Bridge) {
		return fmt.Errorf("the bridge %s exists but no cluster is recorded in %s: another cluster may be running; "+
			"stop it, or remove what it left with `todo-cluster down -dir <its state folder>`", Bridge, recordPath)
	}
	raw, err := json.Marshal(record{Dir: dir, PID: os.Getpid()})
	if err != nil {
		return err
	}
	return os.WriteFile(recordPath, raw, 0o600)
}

func readRecord() (record, error) {
	var r record
	raw, err := os.ReadFile(recordPath)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(raw, &r)
}

// Running reports the state folder and PID of the cluster running on this
// machine, if any.
func Running() (dir string, pid int, ok bool) {
	r, err := readRecord()
	if err != nil || !alive(r.PID) {
		return "", 0, false
	}
	return r.Dir, r.PID, true
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// network creates the node's bridge with the node address (before any pod,
// so that the host's services can listen on it) and turns on IPv4 forwarding
// (pod -> Service -> pod traffic is routed by the host).
func (c *Cluster) network(ctx context.Context) error {
	fwd, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return err
	}
	c.State.IPForward = strings.TrimSpace(string(fwd))
	if err := c.writeState(); err != nil {
		return err
	}
	if !linkExists(Bridge) {
		if err := run(ctx, "ip", "link", "add", Bridge, "type", "bridge"); err != nil {
			return err
		}
	}
	if err := run(ctx, "ip", "addr", "replace", NodeIP+"/16", "dev", Bridge); err != nil {
		return err
	}
	if err := run(ctx, "ip", "link", "set", Bridge, "up"); err != nil {
		return err
	}
	if c.State.IPForward != "1" {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil { //nolint:gosec // G306: procfs.
			return fmt.Errorf("enable IPv4 forwarding: %w", err)
		}
	}
	return nil
}

// Cleanup removes what a cluster whose state folder is dir left on the
// machine: its processes (by PID, from its cgroup), PostgreSQL, the mounts
// under dir (container root file systems, volumes, network namespaces), the
// iptables chains of kube-proxy and the kubelet, the bridge, the cgroups and
// the machine-wide record. It is safe to run when nothing is left.
func Cleanup(ctx context.Context, dir string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	var errs []error
	if err := killCgroupProcs(20 * time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := pglocal.StopDir(ctx, filepath.Join(dir, "postgres")); err != nil {
		errs = append(errs, err)
	}
	ipForward := ""
	if s, err := ReadState(dir); err == nil {
		ipForward = s.IPForward
	}
	if err := cleanupHost(ctx, dir, ipForward, progress); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// cleanupHost removes the machine-level leftovers once no process runs.
func cleanupHost(ctx context.Context, dir, ipForward string, progress io.Writer) error {
	var errs []error
	if n, err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		fmt.Fprintf(progress, "unmounted %d mounts under %s\n", n, dir)
	}
	if err := cleanupIPTables(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := cleanupIPSets(ctx); err != nil {
		errs = append(errs, err)
	}
	if linkExists(Bridge) {
		if err := run(ctx, "ip", "link", "del", Bridge); err != nil {
			errs = append(errs, err)
		}
	}
	if ipForward == "0" {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("0"), 0o644); err != nil { //nolint:gosec // G306: procfs.
			errs = append(errs, fmt.Errorf("restore net.ipv4.ip_forward: %w", err))
		}
	}
	if err := removeCgroups(); err != nil {
		errs = append(errs, err)
	}
	if r, err := readRecord(); err == nil && r.Dir == dir {
		if err := os.Remove(recordPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, prefix) {
			out = append(out, mp)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out), sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder unmounts everything mounted under dir (repeatedly: a mount
// may be stacked on another).
func unmountUnder(dir string) (int, error) {
	n := 0
	for range 10 {
		mps, err := mountsUnder(dir)
		if err != nil {
			return n, err
		}
		if len(mps) == 0 {
			return n, nil
		}
		for _, mp := range mps {
			if err := syscall.Unmount(mp, 0); err != nil {
				if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
					return n, fmt.Errorf("unmount %s: %w", mp, err)
				}
			}
			n++
		}
	}
	mps, _ := mountsUnder(dir)
	if len(mps) > 0 {
		return n, fmt.Errorf("still mounted under %s: %v", dir, mps)
	}
	return n, nil
}

// clusterChain says whether an iptables chain belongs to the cluster's node:
// kube-proxy's and the kubelet's KUBE-* chains, the CNI plugins' CNI-*.
func clusterChain(name string) bool {
	return strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "CNI-")
}

// clusterRule says whether a rule (a line of iptables -S) in a chain
// outside the cluster is the cluster's: it jumps into a cluster chain, or
// it is kube-router's ACCEPT of the traffic its policies marked.
func clusterRule(line string) bool {
	f := strings.Fields(line)
	if i := slices.Index(f, "-j"); i >= 0 && i+1 < len(f) && clusterChain(f[i+1]) {
		return true
	}
	return strings.Contains(line, `--comment "KUBE-ROUTER rule`)
}

// cleanupIPTables removes the node's chains and every rule that jumps to
// them, in the filter, nat, mangle and raw tables, IPv4 and IPv6. Rules are
// deleted by their number (iptables -S quotes comments, which a split on
// spaces would break), the last first.
func cleanupIPTables(ctx context.Context) error {
	var errs []error
	for _, bin := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			out, err := exec.CommandContext(ctx, bin, "-w", "-t", table, "-S").Output() //nolint:gosec // G204: fixed programs and tables.
			if err != nil {
				continue // the table may not exist (raw, IPv6)
			}
			var chains []string
			jumps := map[string][]int{} // chain outside the cluster -> numbers of its rules that jump into it
			num := map[string]int{}
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) >= 2 && f[0] == "-N" && clusterChain(f[1]):
					chains = append(chains, f[1])
				case len(f) >= 2 && f[0] == "-A" && !clusterChain(f[1]):
					num[f[1]]++
					if clusterRule(line) {
						jumps[f[1]] = append(jumps[f[1]], num[f[1]])
					}
				}
			}
			for chain, rules := range jumps {
				slices.Reverse(rules)
				for _, n := range rules {
					args := []string{"-w", "-t", table, "-D", chain, strconv.Itoa(n)}
					if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil { //nolint:gosec // G204: a rule iptables listed.
						errs = append(errs, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, out))
					}
				}
			}
			for _, ch := range chains {
				_ = exec.CommandContext(ctx, bin, "-w", "-t", table, "-F", ch).Run() //nolint:gosec // G204: a chain iptables listed.
			}
			for _, ch := range chains {
				if out, err := exec.CommandContext(ctx, bin, "-w", "-t", table, "-X", ch).CombinedOutput(); err != nil { //nolint:gosec // G204: as above.
					errs = append(errs, fmt.Errorf("%s -t %s -X %s: %w: %s", bin, table, ch, err, out))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists what a cluster could have left on the machine and is still
// there: processes in its cgroup, mounts under dir, the bridge, veths on it,
// iptables chains and rules, kube-router's ipsets, cgroups, the record.
// Empty means clean.
func Leftovers(ctx context.Context, dir string) []string {
	var out []string
	if pids := cgroupPIDs(); len(pids) > 0 {
		out = append(out, fmt.Sprintf("processes in cgroup %s: %v", cgroupName, pids))
	}
	if mps, _ := mountsUnder(dir); len(mps) > 0 {
		out = append(out, fmt.Sprintf("mounts under %s: %v", dir, mps))
	}
	if linkExists(Bridge) {
		out = append(out, "bridge "+Bridge)
	}
	if links, _ := os.ReadDir("/sys/class/net"); links != nil {
		for _, l := range links {
			if strings.HasPrefix(l.Name(), "veth") {
				if m, err := os.Readlink(filepath.Join("/sys/class/net", l.Name(), "master")); err == nil && filepath.Base(m) == Bridge {
					out = append(out, "veth "+l.Name())
				}
			}
		}
	}
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			raw, err := exec.CommandContext(ctx, bin, "-w", "-t", table, "-S").Output() //nolint:gosec // G204: fixed programs and tables.
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(raw), "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) >= 2 && f[0] == "-N" && clusterChain(f[1]):
					out = append(out, fmt.Sprintf("%s -t %s chain %s", bin, table, f[1]))
				case len(f) >= 2 && f[0] == "-A" && !clusterChain(f[1]) && clusterRule(line):
					out = append(out, fmt.Sprintf("%s -t %s rule %s", bin, table, line))
				}
			}
		}
	}
	if sets, _ := ipsets(ctx); len(sets) > 0 {
		out = append(out, fmt.Sprintf("ipsets: %v", sets))
	}
	if dirs := cgroupDirs(); len(dirs) > 0 {
		out = append(out, fmt.Sprintf("cgroups: %v", dirs))
	}
	if _, err := os.Stat(recordPath); err == nil {
		out = append(out, "record "+recordPath)
	}
	if raw, err := os.ReadFile(filepath.Join(dir, "postgres", "data", "postmaster.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0])); err == nil && alive(pid) {
			out = append(out, fmt.Sprintf("PostgreSQL (pid %d)", pid))
		}
	}
	return out
}

// run runs a command and returns its output in the error.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput() //nolint:gosec // G204: fixed system programs.
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
