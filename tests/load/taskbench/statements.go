package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// statement is one normalized statement's cost during phase 1, from
// PostgreSQL's own pg_stat_statements.
type statement struct {
	Query   string  `json:"query"`
	Calls   int64   `json:"calls"`
	MeanMS  float64 `json:"mean_ms"`
	TotalMS float64 `json:"total_ms"`
	Rows    int64   `json:"rows"`
	Hit     int64   `json:"shared_blocks_hit"`
	Read    int64   `json:"shared_blocks_read"`
}

// resetStatements creates pg_stat_statements (it must be in
// shared_preload_libraries, as in the private cluster) and empties it. It
// reports false, with the reason, where the server lacks it
// (BENCH_DATABASE_URL).
func resetStatements(ctx context.Context, pool *pgxpool.Pool) (bool, string) {
	if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return false, "pg_stat_statements unavailable: " + err.Error()
	}
	if _, err := pool.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		return false, "pg_stat_statements unavailable: " + err.Error()
	}
	return true, ""
}

// topStatements are the n statements that took the most execution time
// since the reset, leaving out the bench's own watching.
func topStatements(ctx context.Context, pool *pgxpool.Pool, n int) ([]statement, error) {
	rows, err := pool.Query(ctx, `
SELECT query, calls, mean_exec_time, total_exec_time, rows, shared_blks_hit, shared_blks_read
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND query NOT ILIKE '%pg_stat%' AND query NOT ILIKE '%pg_database%'
ORDER BY total_exec_time DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("read pg_stat_statements: %w", err)
	}
	defer rows.Close()
	var out []statement
	for rows.Next() {
		var s statement
		if err := rows.Scan(&s.Query, &s.Calls, &s.MeanMS, &s.TotalMS, &s.Rows, &s.Hit, &s.Read); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// printStatements writes the top statements as a table, each query on one
// shortened line.
func printStatements(w io.Writer, sts []statement, why string) {
	if len(sts) == 0 {
		if why != "" {
			fmt.Fprintf(w, "Top statements: none (%s)\n", why)
		}
		return
	}
	var total float64
	for _, s := range sts {
		total += s.TotalMS
	}
	fmt.Fprintf(w, "Top statements during phase 1 (pg_stat_statements, by total execution time)\n")
	fmt.Fprintf(w, "%10s %9s %10s %6s %9s %12s %9s  %s\n", "calls", "mean ms", "total s", "share", "rows", "blocks hit", "read", "statement")
	for _, s := range sts {
		q := strings.Join(strings.Fields(s.Query), " ")
		if len(q) > 110 {
			q = q[:107] + "..."
		}
		fmt.Fprintf(w, "%10d %9.3f %10.2f %5.1f%% %9d %12d %9d  %s\n", s.Calls, s.MeanMS, s.TotalMS/1000, 100*s.TotalMS/total, s.Rows, s.Hit, s.Read, q)
	}
}
