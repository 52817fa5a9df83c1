package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/todo-platform/todo/services/taskapi"
)

// plan is PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) of one list or search
// shape, run on one seeded user's tasks.
type plan struct {
	Shape       string  `json:"shape"`
	Query       string  `json:"query"`
	PlanningMS  float64 `json:"planning_ms"`
	ExecutionMS float64 `json:"execution_ms"`
	Hit         int64   `json:"shared_blocks_hit"`
	Read        int64   `json:"shared_blocks_read"`
	Rows        int64   `json:"rows"`
	Nodes       string  `json:"nodes"` // the plan's nodes, outermost first
	Text        string  `json:"text"`  // the whole plan
}

// explainShapes are the list and search shapes the load sends, one of each
// kind, with a common and a rare search word.
var explainShapes = []struct{ name, query string }{
	{"list, newest first", ""},
	{"list by due date", "sort=due_at"},
	{"list by priority", "sort=-priority"},
	{"list by title", "sort=title"},
	{"list by update", "sort=-updated_at"},
	{"open, by due date", "status=open&sort=due_at"},
	{"priority filter", "priority=urgent,high"},
	{"one tag", "tags=" + tagSet[0]},
	{"two tags, any", "tags=" + tagSet[1] + "," + tagSet[7] + "&tags_match=any"},
	{"due within a week", "due_after=" + url.QueryEscape(time.Now().UTC().Truncate(time.Hour).Format(time.RFC3339)) + "&due_before=" + url.QueryEscape(time.Now().UTC().Truncate(time.Hour).Add(7*24*time.Hour).Format(time.RFC3339))},
	{"overdue", "overdue=true"},
	{"no due date", "has_due=false"},
	{"search, common word", "q=" + words[0]},
	{"search, rare word", "q=" + words[len(words)-1]},
	{"search, two words", "q=" + url.QueryEscape(words[1]+" "+words[40])},
	{"search, typed prefix", "q=" + words[2][:3]},
	{"search, open only", "q=" + words[3] + "&status=open"},
}

// explainLists runs EXPLAIN (ANALYZE, BUFFERS) of each shape for owner,
// with the statement taskapi builds for it.
func explainLists(ctx context.Context, pool *pgxpool.Pool, owner string) ([]plan, error) {
	var out []plan
	for _, s := range explainShapes {
		v, err := url.ParseQuery(s.query + "&limit=50")
		if err != nil {
			return nil, err
		}
		q, err := taskapi.ParseListQuery(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		stmt, args, err := q.SQL(owner, time.Now())
		if err != nil {
			return nil, err
		}
		p := plan{Shape: s.name, Query: s.query}
		var raw []byte
		// As taskapi runs it: planned with its own values.
		err = pool.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+stmt, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...).Scan(&raw)
		if err != nil {
			return nil, fmt.Errorf("explain %s: %w", s.name, err)
		}
		var doc []struct {
			Plan       planNode `json:"Plan"`
			Planning   float64  `json:"Planning Time"`
			Execution  float64  `json:"Execution Time"`
			PlanBuffer struct {
				Hit  int64 `json:"Shared Hit Blocks"`
				Read int64 `json:"Shared Read Blocks"`
			} `json:"Planning"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, fmt.Errorf("explain %s: %w", s.name, err)
		}
		if len(doc) != 1 {
			return nil, fmt.Errorf("explain %s: %d plans, want 1", s.name, len(doc))
		}
		d := doc[0]
		p.PlanningMS, p.ExecutionMS = d.Planning, d.Execution
		p.Hit, p.Read, p.Rows = d.Plan.Hit, d.Plan.Read, d.Plan.Rows
		var nodes []string
		d.Plan.walk(func(n *planNode) { nodes = append(nodes, n.label()) })
		p.Nodes = strings.Join(nodes, " > ")
		var text string
		rows, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+stmt, append([]any{pgx.QueryExecModeCacheDescribe}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("explain %s: %w", s.name, err)
		}
		var lines []string
		if _, err := pgx.ForEachRow(rows, []any{&text}, func() error { lines = append(lines, text); return nil }); err != nil {
			return nil, fmt.Errorf("explain %s: %w", s.name, err)
		}
		p.Text = strings.Join(lines, "\n")
		out = append(out, p)
	}
	return out, nil
}

// planNode is a node of EXPLAIN's JSON plan, with what the report shows.
type planNode struct {
	Type     string     `json:"Node Type"`
	Index    string     `json:"Index Name"`
	Relation string     `json:"Relation Name"`
	Rows     int64      `json:"Actual Rows"`
	Hit      int64      `json:"Shared Hit Blocks"`
	Read     int64      `json:"Shared Read Blocks"`
	Plans    []planNode `json:"Plans"`
}

func (n *planNode) walk(f func(*planNode)) {
	f(n)
	for i := range n.Plans {
		n.Plans[i].walk(f)
	}
}

func (n *planNode) label() string {
	switch {
	case n.Index != "":
		return fmt.Sprintf("%s %s (%d rows)", n.Type, n.Index, n.Rows)
	case n.Relation != "":
		return fmt.Sprintf("%s %s (%d rows)", n.Type, n.Relation, n.Rows)
	}
	return n.Type
}

// printPlans writes the plans' table: one line a shape.
func printPlans(w io.Writer, plans []plan, owner string, tasks int) {
	if len(plans) == 0 {
		return
	}
	fmt.Fprintf(w, "\nplans      EXPLAIN (ANALYZE, BUFFERS) of each list and search shape for %s (%d tasks), limit 50; whole plans in -json\n", owner, tasks)
	fmt.Fprintf(w, "  %-22s %8s %8s %8s %7s  %s\n", "shape", "exec ms", "plan ms", "hit", "read", "nodes")
	for _, p := range plans {
		fmt.Fprintf(w, "  %-22s %8.2f %8.2f %8d %7d  %s\n", p.Shape, p.ExecutionMS, p.PlanningMS, p.Hit, p.Read, p.Nodes)
	}
}
