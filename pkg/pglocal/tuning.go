package pglocal

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ThisMachine, as Options.Memory, sizes the server to this machine's
// memory (MachineMemory): a server of its own, as in a benchmark.
const ThisMachine = -1

// Tuned is the configuration a production user would give PostgreSQL on a
// server with memory bytes for it and solid-state storage, each value with
// its reason (the README's "PostgreSQL's configuration" repeats them):
//
//   - shared_buffers, a quarter of the memory (at most 8 GB): the pages the
//     server keeps itself; the default, 128 MB, holds a fraction of the
//     tasks of 100 users, so most reads go through the kernel.
//   - effective_cache_size, three quarters: what the planner may assume is
//     cached (its own buffers and the kernel's); index scans look cheaper.
//   - random_page_cost 1.1 and effective_io_concurrency 200: on an SSD a
//     random read costs about what a sequential one does (the default, 4,
//     is for spinning disks and steers the planner away from index scans).
//   - work_mem 16 MB: a page's sort or a bitmap of a common search word
//     stays in memory (the default, 4 MB, spills); max_connections × it is
//     still far below the memory.
//   - maintenance_work_mem, a sixteenth (at most 1 GB): index builds and
//     vacuum of a large table in fewer passes.
//   - max_wal_size 4 GB, checkpoint_timeout 15 min: checkpoints by time,
//     not every gigabyte of writes; fewer full-page images after each.
//   - jit off: the task API runs short statements; compiling one costs more
//     than it saves.
func Tuned(memory int64) map[string]string {
	const mb = 1 << 20
	shared := min(memory/4, 8<<30)
	return map[string]string{
		"shared_buffers":               fmt.Sprintf("%dMB", max(shared/mb, 128)),
		"effective_cache_size":         fmt.Sprintf("%dMB", max(memory*3/4/mb, 256)),
		"random_page_cost":             "1.1",
		"effective_io_concurrency":     "200",
		"work_mem":                     "16MB",
		"maintenance_work_mem":         fmt.Sprintf("%dMB", max(min(memory/16, 1<<30)/mb, 64)),
		"max_wal_size":                 "4GB",
		"min_wal_size":                 "1GB",
		"checkpoint_timeout":           "15min",
		"checkpoint_completion_target": "0.9",
		"jit":                          "off",
	}
}

// MachineMemory returns the memory of this machine (MemTotal), or of its
// cgroup when that is smaller.
func MachineMemory() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo: %w", err)
			}
			total = kb << 10
		}
	}
	if total == 0 {
		return 0, fmt.Errorf("/proc/meminfo has no MemTotal")
	}
	for _, limit := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(limit); err == nil { //nolint:gosec // fixed paths
			if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && n < total {
				total = n
			}
		}
	}
	return total, nil
}
