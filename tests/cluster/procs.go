package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/todo-platform/todo/tests/toolchain"
)

// cgroupName is the cgroup (in every v1 hierarchy, or under the v2 root)
// that holds everything the cluster runs: its components in "system", the
// pods below it (the kubelet's cgroupRoot). Stopping the cluster kills what
// is left in it by PID and removes it, so nothing survives a stop: not the
// containerd shims that outlive containerd by design, nor a container whose
// kubelet died first.
const cgroupName = "todo-cluster"

// cgroupBase is the mount of the hierarchy used to find the cluster's
// processes: the v1 pids hierarchy, or the unified v2 mount.
func cgroupBase() string {
	if _, err := os.Stat("/sys/fs/cgroup/pids/cgroup.procs"); err == nil {
		return "/sys/fs/cgroup/pids"
	}
	return "/sys/fs/cgroup"
}

// start runs bin with args, its output appended to logPath, and moves it
// into the cluster's system cgroup.
func (c *Cluster) start(name, bin string, args ...string) (*toolchain.Process, error) {
	logPath := filepath.Join(c.dir, "logs", name+".log")
	// No context: a component outlives the start that launched it; Stop ends it.
	cmd := exec.Command(bin, args...) //nolint:gosec,noctx // G204: the cluster's pinned tools.
	cmd.SysProcAttr = c.sysProcAttr()
	p, err := toolchain.StartProcess(name, logPath, cmd, func(pid int) error { return joinCgroup(pid, "system") })
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	c.logf("%s started (pid %d, log %s)", name, cmd.Process.Pid, logPath)
	return p, nil
}

// waitFor polls check every 200 ms until it succeeds, p exits or timeout
// passes.
func waitFor(p *toolchain.Process, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited (%w)\n%s", p.Name, p.Err(), p.Tail(25))
		}
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			if p != nil {
				return fmt.Errorf("%s not ready after %s: %w\n%s", p.Name, timeout, err, p.Tail(25))
			}
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// joinCgroup moves pid into the cluster's cgroup <sub> of the tracking
// hierarchy.
func joinCgroup(pid int, sub string) error {
	dir := filepath.Join(cgroupBase(), cgroupName, sub)
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: cgroupfs directories.
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil { //nolint:gosec // G306: cgroupfs.
		return fmt.Errorf("move pid %d into cgroup %s: %w", pid, dir, err)
	}
	return nil
}

// cgroupPIDs lists every process in the cluster's cgroup tree.
func cgroupPIDs() []int {
	var pids []int
	root := filepath.Join(cgroupBase(), cgroupName)
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil //nolint:nilerr // a cgroup that vanished while walking is fine.
		}
		raw, err := os.ReadFile(path) //nolint:gosec // G304: cgroupfs.
		if err != nil {
			return nil //nolint:nilerr // as above.
		}
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	slices.Sort(pids)
	return slices.Compact(pids)
}

// killCgroupProcs kills every process in the cluster's cgroup tree, by PID,
// until none is left or timeout passes.
func killCgroupProcs(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids := cgroupPIDs()
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes still running in cgroup %s after %s: %v", cgroupName, timeout, pids)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// cgroupDirs lists the cluster's cgroup directories in every hierarchy.
func cgroupDirs() []string {
	var dirs []string
	for _, base := range cgroupHierarchies() {
		root := filepath.Join(base, cgroupName)
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	return dirs
}

func removeCgroups() error {
	dirs := cgroupDirs()
	// Deepest first: a cgroup with children cannot be removed.
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	var errs []error
	for _, d := range dirs {
		var err error
		for range 50 { // the kernel frees a cgroup shortly after its last process
			if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// cgroupHierarchies lists the mounted cgroup hierarchies (v1 controllers and
// named hierarchies, the v2 mount).
func cgroupHierarchies() []string {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []string{cgroupBase()}
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		// ... mountpoint ... - fstype source options
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		t := strings.Fields(post)
		if len(f) >= 5 && len(t) >= 1 && (t[0] == "cgroup" || t[0] == "cgroup2") {
			out = append(out, f[4])
		}
	}
	return out
}

// prepareCgroupRoot creates the cluster's cgroup in every hierarchy, as the
// kubelet requires of its cgroupRoot, with the v1 cpuset's CPUs and memory
// nodes copied from the root (a new cpuset has none, and its children, the
// pods, would inherit that).
func prepareCgroupRoot() error {
	for _, base := range cgroupHierarchies() {
		dir := filepath.Join(base, cgroupName)
		if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // G301: cgroupfs directories.
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			raw, err := os.ReadFile(filepath.Join(base, f)) //nolint:gosec // G304: cgroupfs.
			if err != nil {
				continue // not the cpuset hierarchy
			}
			cur, _ := os.ReadFile(filepath.Join(dir, f)) //nolint:gosec // G304: cgroupfs.
			if len(strings.TrimSpace(string(cur))) > 0 {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil { //nolint:gosec // G306: cgroupfs.
				return fmt.Errorf("initialise %s of %s: %w", f, dir, err)
			}
		}
	}
	return nil
}
