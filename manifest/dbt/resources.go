package dbt

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/tidwall/gjson"
)

func (p *parser) source(s *scanner) error {
	src := &Source{Config: SourceConfig{Enabled: true}}
	h := fnv.New64a()
	err := p.eachMember(s, func(key string, v []byte) {
		switch key {
		case "unique_id":
			src.UniqueID = p.str(v)
		case "source_name":
			src.SourceName = p.intern(v)
		case "name":
			src.Name = p.str(v)
		case "identifier":
			src.Identifier = p.str(v)
		case "schema":
			src.Schema = p.intern(v)
		case "database":
			src.Database = p.intern(v)
		case "package_name":
			src.PackageName = p.intern(v)
		case "original_file_path":
			src.OriginalFilePath = p.intern(v)
		case "fqn":
			src.FQN = p.strList(depthField, v)
		case "relation_name":
			src.RelationName = p.str(v)
		case "meta":
			src.Meta = p.anyMap(v)
		case "tags":
			src.Tags = p.strList(depthField, v)
		case "description":
			src.Description = p.str(v)
		case "columns":
			src.Columns = p.columns(v)
		case "config":
			p.members(depthField, v, func(k string, cv []byte) {
				switch k {
				case "enabled":
					src.Config.Enabled = string(cv) != "false"
				case "meta":
					src.Config.Meta = p.anyMap(cv)
				case "tags":
					src.Config.Tags = p.strList(depthItem, cv)
				}
			})
		case "unrendered_config":
			src.Unrendered = p.rawJSON(v)
		case "quoting", "freshness", "external", "loaded_at_field":
			h.Write([]byte(key))
			h.Write(v)
		}
	})
	if err != nil {
		return fmt.Errorf("source %s: %w", src.UniqueID, err)
	}
	src.stateHash = h.Sum64()
	p.m.Sources[src.UniqueID] = src
	return nil
}

func (p *parser) exposure(s *scanner) error {
	e := &Exposure{}
	h := fnv.New64a()
	err := p.eachMember(s, func(key string, v []byte) {
		switch key {
		case "unique_id":
			e.UniqueID = p.str(v)
		case "name":
			e.Name = p.str(v)
		case "type":
			e.Type = p.str(v)
		case "label":
			e.Label = p.str(v)
		case "url":
			e.URL = p.str(v)
		case "maturity":
			e.Maturity = p.str(v)
		case "description":
			e.Description = p.str(v)
		case "owner":
			r := gjson.Parse(unsafeString(v))
			e.OwnerName = strings.Clone(r.Get("name").String())
			e.OwnerEmail = strings.Clone(r.Get("email").String())
		case "package_name":
			e.PackageName = p.intern(v)
		case "original_file_path":
			e.OriginalFilePath = p.intern(v)
		case "fqn":
			e.FQN = p.strList(depthField, v)
		case "tags":
			e.Tags = p.strList(depthField, v)
		case "meta":
			e.Meta = p.anyMap(v)
		case "depends_on":
			e.DependsOn = p.dependsOn(v)
		}
		switch key {
		case "type", "owner", "maturity", "url", "description", "label", "depends_on", "unrendered_config", "fqn":
			h.Write([]byte(key))
			h.Write(v)
		}
	})
	if err != nil {
		return fmt.Errorf("exposure %s: %w", e.UniqueID, err)
	}
	e.stateHash = h.Sum64()
	p.m.Exposures[e.UniqueID] = e
	return nil
}

func (p *parser) group(raw []byte) error {
	r := gjson.Parse(unsafeString(raw))
	g := &Group{
		UniqueID:   strings.Clone(r.Get("unique_id").String()),
		Name:       strings.Clone(r.Get("name").String()),
		OwnerName:  strings.Clone(r.Get("owner.name").String()),
		OwnerEmail: strings.Clone(r.Get("owner.email").String()),
	}
	if g.UniqueID == "" {
		return fmt.Errorf("%s: a group has no unique_id", p.s.name)
	}
	p.m.Groups[g.UniqueID] = g
	return nil
}

func (p *parser) macro(s *scanner) error {
	mc := &Macro{}
	err := p.eachMember(s, func(key string, v []byte) {
		switch key {
		case "unique_id":
			mc.UniqueID = p.str(v)
		case "name":
			mc.Name = p.str(v)
		case "package_name":
			mc.PackageName = p.intern(v)
		case "depends_on":
			mc.DependsOn = p.dependsOn(v).Macros
		case "macro_sql":
			mc.Checksum = p.hashString(v)
		}
	})
	if err != nil {
		return fmt.Errorf("macro %s: %w", mc.UniqueID, err)
	}
	p.m.Macros[mc.UniqueID] = mc
	return nil
}

// unitTest reads the unique_id and fqn of one entry of "unit_tests".
func (p *parser) unitTest(s *scanner) error {
	var id string
	var fqn []string
	err := p.eachMember(s, func(key string, v []byte) {
		switch key {
		case "unique_id":
			id = p.str(v)
		case "fqn":
			fqn = p.strList(depthField, v)
		}
	})
	if err != nil {
		return err
	}
	if id != "" {
		if p.m.UnitTests == nil {
			p.m.UnitTests = map[string][]string{}
		}
		p.m.UnitTests[id] = fqn
	}
	return nil
}
