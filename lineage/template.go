package lineage

import (
	"regexp"
	"strings"
)

var (
	templateRe = regexp.MustCompile(`\{\{-?\s*(.*?)\s*-?\}\}`)
	refRe      = regexp.MustCompile(`^ref\(\s*["']([^"']+)["']\s*\)$`)
)

// Compile renders an elt SQL template for parsing: {{ ref("x") }} becomes
// the relation ref returns (the quoted name when ref knows none), {{ this }} the asset's own relation, and every
// other expression (partition bounds, env, vars) the constant NULL, which
// carries no column lineage.
func Compile(sql string, ref func(string) string, this string) string {
	return templateRe.ReplaceAllStringFunc(sql, func(m string) string {
		expr := strings.TrimSpace(templateRe.FindStringSubmatch(m)[1])
		if expr == "this" {
			return this
		}
		if r := refRe.FindStringSubmatch(expr); r != nil {
			if rel := ref(r[1]); rel != "" {
				return rel
			}
			return `"` + strings.ReplaceAll(r[1], `"`, `""`) + `"`
		}
		return "NULL"
	})
}
