package duckdb

import (
	"context"
	"fmt"
	"strings"

	"github.com/eltproject/elt/asset"
)

// relation is a table or view name: an optional catalog (an attached
// database), a schema and a name, all unquoted.
type relation struct {
	Catalog, Schema, Name string
}

// quoteIdent quotes one identifier for DuckDB: double quotes around it,
// inner double quotes doubled. Every identifier elt writes goes through it.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// String returns the quoted relation, such as "main"."orders".
func (r relation) String() string {
	s := quoteIdent(r.Schema) + "." + quoteIdent(r.Name)
	if r.Catalog != "" {
		s = quoteIdent(r.Catalog) + "." + s
	}
	return s
}

// schemaRef returns the quoted schema, with its catalog when set.
func (r relation) schemaRef() string {
	if r.Catalog != "" {
		return quoteIdent(r.Catalog) + "." + quoteIdent(r.Schema)
	}
	return quoteIdent(r.Schema)
}

// in qualifies r with catalog when its schema has the catalog's name. A
// DuckDB file's catalog is named after the file (data/raw.duckdb is "raw"),
// so for an asset key raw/orders in raw.duckdb, "raw"."orders" would be
// "Ambiguous reference to catalog or schema"; "raw"."raw"."orders" is not.
func (r relation) in(catalog string) relation {
	if r.Catalog == "" && catalog != "" && strings.EqualFold(r.Schema, catalog) {
		r.Catalog = catalog
	}
	return r
}

// currentCatalog returns the name of the database conn works in.
func currentCatalog(ctx context.Context, conn dbtx) (string, error) {
	var name string
	if err := conn.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
		return "", fmt.Errorf("duckdb: current_database(): %w", err)
	}
	return name, nil
}

// keyRelation derives the relation of an asset key: one part is a table in
// "main", two parts are schema and table, and with more parts the leading
// parts joined by "_" name the schema.
func keyRelation(key asset.Key) relation {
	parts := key.Parts()
	switch len(parts) {
	case 0:
		return relation{}
	case 1:
		return relation{Schema: "main", Name: parts[0]}
	default:
		return relation{Schema: strings.Join(parts[:len(parts)-1], "_"), Name: parts[len(parts)-1]}
	}
}

// resolveRelation returns the relation of key, honouring an override
// written as name, schema.name or catalog.schema.name (parts may be
// double-quoted).
func resolveRelation(key asset.Key, override string) (relation, error) {
	if strings.TrimSpace(override) == "" {
		return keyRelation(key), nil
	}
	return parseRelation(override)
}

// Relation returns the quoted relation that holds the asset key, such as
// "main"."orders" for orders or "raw"."orders" for raw/orders. A non-empty
// override (relation: in elt.yaml, for example analytics.daily or
// "my schema"."my table") replaces the default; an override that does not
// parse is quoted as one table name in "main" (AssetConfig.Validate
// reports it).
func Relation(key asset.Key, override string) string {
	r, err := resolveRelation(key, override)
	if err != nil {
		return relation{Schema: "main", Name: override}.String()
	}
	return r.String()
}

// relationHint says how to write a relation, for parse errors.
const relationHint = "write schema.table, and double-quote names that contain dots"

// parseRelation parses a dotted name of one to three parts. Unquoted parts
// are taken as written (DuckDB matches them case-insensitively); quoted
// parts may contain dots, spaces and doubled quotes.
func parseRelation(s string) (relation, error) {
	var parts []string
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return relation{}, fmt.Errorf("relation %q: expected a name at offset %d; %s", s, i, relationHint)
		}
		var part strings.Builder
		if s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						part.WriteByte('"')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				part.WriteByte(s[i])
				i++
			}
			if !closed {
				return relation{}, fmt.Errorf("relation %q: unterminated quoted name; end it with a double quote, e.g. \"my.schema\".table", s)
			}
		} else {
			start := i
			for i < len(s) && s[i] != '.' && !isSpace(s[i]) {
				if s[i] == '"' {
					return relation{}, fmt.Errorf("relation %q: quote inside an unquoted name at offset %d", s, i)
				}
				i++
			}
			part.WriteString(s[start:i])
		}
		if part.Len() == 0 {
			return relation{}, fmt.Errorf("relation %q: empty name at offset %d; %s", s, i, relationHint)
		}
		parts = append(parts, part.String())
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			break
		}
		if s[i] != '.' {
			return relation{}, fmt.Errorf("relation %q: unexpected %q at offset %d (write schema.table, quote names with spaces)", s, s[i], i)
		}
		i++
	}
	switch len(parts) {
	case 1:
		return relation{Schema: "main", Name: parts[0]}, nil
	case 2:
		return relation{Schema: parts[0], Name: parts[1]}, nil
	case 3:
		return relation{Catalog: parts[0], Schema: parts[1], Name: parts[2]}, nil
	default:
		return relation{}, fmt.Errorf("relation %q: %d parts; use table, schema.table or database.schema.table", s, len(parts))
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
