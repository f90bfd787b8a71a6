package lineage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	// DuckDB's parser, through json_serialize_sql.
	_ "github.com/duckdb/duckdb-go/v2"
)

// Parser parses SQL with DuckDB's own parser on an in-memory database,
// opened on first use and shared.
type Parser struct {
	once sync.Once
	err  error
	db   *sql.DB
	mu   sync.Mutex
	aggs map[string]bool
}

// shared is the process's parser (see SharedParser).
var shared Parser

// SharedParser returns the parser every run of this process shares: its
// in-memory DuckDB is opened once, on the first statement to parse, and
// stays open for the process's later runs (a scheduler, a backfill).
// Never Close it.
func SharedParser() *Parser { return &shared }

// Close closes the in-memory database.
func (p *Parser) Close() error {
	if p.db != nil {
		return p.db.Close()
	}
	return nil
}

func (p *Parser) open(ctx context.Context) error {
	p.once.Do(func() {
		db, err := sql.Open("duckdb", "")
		if err != nil {
			p.err = fmt.Errorf("open in-memory duckdb: %w", err)
			return
		}
		db.SetMaxOpenConns(1)
		rows, err := db.QueryContext(ctx, "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'aggregate'")
		if err != nil {
			_ = db.Close()
			p.err = fmt.Errorf("list aggregate functions: %w", err)
			return
		}
		defer rows.Close()
		p.aggs = map[string]bool{}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err == nil {
				p.aggs[strings.ToLower(n)] = true
			}
		}
		p.db = db
	})
	return p.err
}

// Serialize returns DuckDB's JSON parse tree of query (SELECT statements
// only, as json_serialize_sql allows).
func (p *Parser) Serialize(ctx context.Context, query string) (map[string]any, error) {
	if err := p.open(ctx); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var s string
	if err := p.db.QueryRowContext(ctx, "SELECT CAST(json_serialize_sql(CAST(? AS VARCHAR)) AS VARCHAR)", query).Scan(&s); err != nil {
		return nil, fmt.Errorf("json_serialize_sql: %w", err)
	}
	var tree map[string]any
	if err := json.Unmarshal([]byte(s), &tree); err != nil {
		return nil, fmt.Errorf("json_serialize_sql output: %w", err)
	}
	if e, _ := tree["error"].(bool); e {
		msg, _ := tree["error_message"].(string)
		return nil, errors.New(msg)
	}
	return tree, nil
}

// isAggregate reports whether name is an aggregate function of DuckDB.
func (p *Parser) isAggregate(name string) bool { return p.aggs[strings.ToLower(name)] }
