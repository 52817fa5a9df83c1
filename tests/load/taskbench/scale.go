package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/pkg/auth"
	"github.com/todo-platform/todo/tests/load/loadstat"
)

// The scale bench (make bench-scale): does a page cost the same whatever
// the user's and the database's size? Users holding -scale-sizes tasks
// (1,000, 10,000, 100,000) are measured at one fixed rate, first in a
// database of -scale-totals[0] tasks in all (the rest belong to background
// users of 10,000 each), then grown to each further total.

// scaleShape is one request the scale bench measures.
type scaleShape struct {
	name  string
	query string // list query string; "" with get
	get   bool
	deep  int // pages walked with the cursor before measuring (a deep page)
}

var scaleShapes = []scaleShape{
	{name: "get", get: true},
	{name: "list, newest first", query: ""},
	{name: "list, page 20", query: "", deep: 19},
	{name: "list by due date", query: "sort=due_at"},
	{name: "list by priority", query: "sort=-priority"},
	{name: "list by title", query: "sort=title"},
	{name: "list by update", query: "sort=-updated_at"},
	{name: "open, by due date", query: "status=open&sort=due_at"},
	{name: "priority + tag", query: "priority=urgent,high&tags=" + tagSet[0]},
	{name: "overdue", query: "overdue=true"},
	{name: "due within a week", query: "due_after=%NOW%&due_before=%WEEK%&sort=due_at"},
	{name: "search, common word", query: "q=" + words[0]},
	{name: "search, rare word", query: "q=" + words[len(words)-1]},
	{name: "search, typed prefix", query: "q=" + words[2][:3]},
}

// scaleCell is one shape's latency for one user size at one total.
type scaleCell struct {
	Shape     string  `json:"shape"`
	UserTasks int     `json:"user_tasks"`
	Total     int64   `json:"database_tasks"`
	P50       float64 `json:"p50_ms"`
	P95       float64 `json:"p95_ms"`
	Errors    int     `json:"errors"`
}

type scaleReport struct {
	Rate    float64     `json:"rate_per_second"`
	Samples int         `json:"samples_per_cell"`
	Cells   []scaleCell `json:"cells"`
	Seeds   []seedStats `json:"seeds"`
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(f, "_", "")))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive whole number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runScale seeds and measures; it writes its table to stdout.
func runScale(ctx context.Context, cfg config, dbURL string, pool *pgxpool.Pool, rep *report, progress, stdout io.Writer) error {
	sizes, err := parseSizes(cfg.scaleSizes)
	if err != nil {
		return fmt.Errorf("-scale-sizes: %w", err)
	}
	totals, err := parseSizes(cfg.scaleTotals)
	if err != nil {
		return fmt.Errorf("-scale-totals: %w", err)
	}
	probeSum := 0
	for _, n := range sizes {
		probeSum += n
	}
	if !slices.IsSorted(totals) || totals[0] < probeSum {
		return fmt.Errorf("-scale-totals must grow and start at the probe users' %d tasks at least", probeSum)
	}
	var have int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM taskapi.tasks").Scan(&have); err != nil {
		return err
	}
	if have > 0 {
		return errors.New("the scale bench seeds an empty database: run it on the private PostgreSQL or an empty BENCH_DATABASE_URL")
	}
	secret := make([]byte, 32)
	_, _ = crand.Read(secret)
	secretText := hex.EncodeToString(secret)
	mkUser := func(id string, i int) (*user, error) {
		u := &user{id: id, zone: zones[i%len(zones)]}
		tok, err := auth.IssueHS256(secretText, u.id, "", "", 24*time.Hour)
		u.auth = "Bearer " + tok
		return u, err
	}
	var probes []*user
	for i, n := range sizes {
		u, err := mkUser(fmt.Sprintf("scale-user-%d", n), i)
		if err != nil {
			return err
		}
		probes = append(probes, u)
	}
	const bgPerUser = 10_000
	sr := &scaleReport{Rate: cfg.scaleRate, Samples: cfg.scaleSamples}
	seeded, bgUsers := int64(0), 0
	for stage, total := range totals {
		defs, err := dropIndexes(ctx, pool)
		if err != nil {
			return err
		}
		fmt.Fprintf(progress, "scale: growing the database to %s tasks (secondary indexes built afterwards)\n", loadstat.Thousands(int64(total)))
		var st seedStats
		add := func(spec seedSpec, us []*user) error {
			s, err := seedTasks(ctx, pool, spec, us, progress)
			st.Rows += s.Rows
			st.CopySeconds += s.CopySeconds
			return err
		}
		now := time.Now()
		if stage == 0 {
			for i, n := range sizes {
				spec := seedSpec{users: 1, perUser: n, sample: 1, workers: cfg.seedWorkers, seed: cfg.seed + uint64(i), now: now}
				if err := add(spec, probes[i:i+1]); err != nil {
					return err
				}
				seeded += int64(n)
			}
		}
		if n := (int64(total) - seeded) / bgPerUser; n > 0 {
			var bg []*user
			for i := range int(n) {
				bg = append(bg, &user{id: fmt.Sprintf("scale-bg-%05d", bgUsers+i), zone: zones[(bgUsers+i)%len(zones)]})
			}
			spec := seedSpec{users: int(n), perUser: bgPerUser, sample: 1, workers: cfg.seedWorkers, seed: cfg.seed + 100 + uint64(stage), now: now}
			if err := add(spec, bg); err != nil {
				return err
			}
			bgUsers += int(n)
			seeded += n * bgPerUser
		}
		if err := finishSeed(ctx, pool, defs, cfg.seedWorkers, &st, progress); err != nil {
			return err
		}
		sr.Seeds = append(sr.Seeds, st)

		a, err := startAPI(ctx, dbURL, cfg.pool, secretText)
		if err != nil {
			return err
		}
		client := &http.Client{Transport: newTransport(64), Timeout: cfg.timeout}
		for i, u := range probes {
			for _, sh := range scaleShapes {
				c, err := measureShape(ctx, client, a.base, pool, u, sh, cfg.scaleRate, cfg.scaleSamples)
				if err != nil {
					a.close()
					return fmt.Errorf("%s for %s: %w", sh.name, u.id, err)
				}
				c.UserTasks, c.Total = sizes[i], seeded
				sr.Cells = append(sr.Cells, c)
				fmt.Fprintf(progress, "  %-22s user of %7s, database of %9s: p50 %6.2f ms, p95 %6.2f ms\n", c.Shape, loadstat.Thousands(int64(c.UserTasks)), loadstat.Thousands(c.Total), c.P50, c.P95)
			}
		}
		a.close()
	}
	rep.Scale = sr
	printScale(stdout, sr, sizes, rep.Machine)
	return nil
}

// measureShape sends samples requests of shape sh as user u, open loop at
// rate per second, latency counted from each request's scheduled time.
func measureShape(ctx context.Context, client *http.Client, base string, pool *pgxpool.Pool, u *user, sh scaleShape, rate float64, samples int) (scaleCell, error) {
	cell := scaleCell{Shape: sh.name}
	var paths []string
	if sh.get {
		rows, err := pool.Query(ctx, "SELECT id::text FROM taskapi.tasks WHERE owner_id = $1 ORDER BY random() LIMIT $2", u.id, samples)
		if err != nil {
			return cell, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return cell, err
		}
		for _, id := range ids {
			paths = append(paths, "/api/v1/tasks/"+id)
		}
	} else {
		now := time.Now().UTC().Truncate(time.Hour)
		q := strings.NewReplacer("%NOW%", url.QueryEscape(now.Format(time.RFC3339)), "%WEEK%", url.QueryEscape(now.Add(7*24*time.Hour).Format(time.RFC3339))).Replace(sh.query)
		if q != "" {
			q += "&"
		}
		q += "limit=50"
		for range sh.deep {
			body, status, err := fetch(ctx, client, base+"/api/v1/tasks?"+q, u.auth)
			if err != nil {
				return cell, fmt.Errorf("walk to a deep page: %w", err)
			}
			if status != http.StatusOK {
				return cell, fmt.Errorf("walk to a deep page: status %d", status)
			}
			c := nextCursor(body)
			if c == "" {
				break
			}
			q = strings.Split(q, "&cursor=")[0] + "&cursor=" + c
		}
		paths = []string{"/api/v1/tasks?" + q}
	}
	h := loadstat.NewHistogram()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := range samples {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		if ctx.Err() != nil {
			return cell, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, status, err := fetch(ctx, client, base+paths[i%len(paths)], u.auth)
			d := time.Since(at)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || status != http.StatusOK {
				cell.Errors++
				return
			}
			h.Record(d)
		}()
	}
	wg.Wait()
	cell.P50, cell.P95 = h.Ms(50), h.Ms(95)
	return cell, nil
}

func fetch(ctx context.Context, client *http.Client, u, authz string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", authz)
	res, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = res.Body.Close() }()
	b, err := io.ReadAll(res.Body)
	return b, res.StatusCode, err
}

// printScale writes the table: a row a shape, a column a user size and
// database size, p50/p95 in ms.
func printScale(w io.Writer, sr *scaleReport, sizes []int, m machine) {
	line := strings.Repeat("─", 96)
	fmt.Fprintf(w, "\n%s\ntaskbench -scale: the cost of a page as the data grows\n%s\n", line, line)
	fmt.Fprintf(w, "machine    load average %s at the start; %d CPUs\n", m.LoadStart, m.NumCPU)
	fmt.Fprintf(w, "load       %.0f requests/s of one shape at a time, %d each, open loop; p50 / p95 in ms (errors after a !)\n", sr.Rate, sr.Samples)
	for i, st := range sr.Seeds {
		fmt.Fprintf(w, "seed %d     COPY %s rows in %.1f s, indexes %.1f s, VACUUM (ANALYZE) %.1f s\n", i+1, loadstat.Thousands(st.Rows), st.CopySeconds, st.IndexSeconds, st.VacuumSeconds)
	}
	var totals []int64
	for _, c := range sr.Cells {
		if !slices.Contains(totals, c.Total) {
			totals = append(totals, c.Total)
		}
	}
	fmt.Fprintf(w, "%-22s", "user's tasks →")
	for range totals {
		for _, n := range sizes {
			fmt.Fprintf(w, " %13s", loadstat.Thousands(int64(n)))
		}
	}
	fmt.Fprintf(w, "\n%-22s", "database's tasks →")
	for _, t := range totals {
		for range sizes {
			fmt.Fprintf(w, " %13s", loadstat.Thousands(t))
		}
	}
	fmt.Fprintln(w)
	for _, sh := range scaleShapes {
		fmt.Fprintf(w, "%-22s", sh.name)
		for _, t := range totals {
			for _, n := range sizes {
				for _, c := range sr.Cells {
					if c.Shape == sh.name && c.Total == t && c.UserTasks == n {
						v := fmt.Sprintf("%.1f / %.1f", c.P50, c.P95)
						if c.Errors > 0 {
							v += fmt.Sprintf(" !%d", c.Errors)
						}
						fmt.Fprintf(w, " %13s", v)
					}
				}
			}
		}
		fmt.Fprintln(w)
	}
}
