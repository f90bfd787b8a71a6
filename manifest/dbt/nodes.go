package dbt

import (
	"bytes"
	"runtime"
	"slices"
	"sync"
)

// Nodes are most of a manifest. With more than one CPU they are parsed by
// workers: the reading goroutine walks each node's members once and copies
// the ones the parser reads into batches; each worker parses batches with
// its own parser state; results are merged in file order.
const batchBytes = 1 << 20

// A batch holds, for each node, only the members the parser reads: the
// reading goroutine walks each node's members once, so workers never
// rescan the big strings (compiled code, docs) that nobody needs.
type nodeBatch struct {
	seq   int
	data  []byte
	spans []span
	ends  []int // end index in spans of each node
}

// span is one member of a node: its key and where its value sits in data
// and in the input.
type span struct {
	key        string
	start, end int
	off        int64
}

// nodeKey returns the canonical form of a node member the parser reads,
// or "" for members it skips.
func nodeKey(k []byte) string {
	switch string(k) {
	case "unique_id":
		return "unique_id"
	case "resource_type":
		return "resource_type"
	case "name":
		return "name"
	case "alias":
		return "alias"
	case "schema":
		return "schema"
	case "database":
		return "database"
	case "package_name":
		return "package_name"
	case "path":
		return "path"
	case "original_file_path":
		return "original_file_path"
	case "fqn":
		return "fqn"
	case "tags":
		return "tags"
	case "description":
		return "description"
	case "meta":
		return "meta"
	case "config":
		return "config"
	case "depends_on":
		return "depends_on"
	case "columns":
		return "columns"
	case "raw_code":
		return "raw_code"
	case "raw_sql":
		return "raw_sql"
	case "checksum":
		return "checksum"
	case "version":
		return "version"
	case "latest_version":
		return "latest_version"
	case "relation_name":
		return "relation_name"
	case "attached_node":
		return "attached_node"
	case "test_metadata":
		return "test_metadata"
	case "column_name":
		return "column_name"
	case "group":
		return "group"
	case "contract":
		return "contract"
	case "unrendered_config":
		return "unrendered_config"
	}
	return ""
}

type nodeResult struct {
	seq   int
	nodes []*Node
	err   error
}

// nodes reads the manifest's nodes object.
func (p *parser) nodes(s *scanner) error {
	workers := min(runtime.GOMAXPROCS(0), 4)
	if workers < 2 {
		return s.object(func([]byte) error {
			n, err := p.node(func(fn func(string, []byte)) error { return p.eachMember(s, fn) })
			if err != nil {
				return err
			}
			p.addNode(n)
			return nil
		})
	}
	jobs := make(chan nodeBatch, workers)
	// Batch buffers go back to free once parsed, so a manifest of any size
	// needs only a few.
	free := make(chan nodeBatch, 2*workers+2)
	newBatch := func() nodeBatch {
		select {
		case b := <-free:
			return nodeBatch{data: b.data[:0], spans: b.spans[:0], ends: b.ends[:0]}
		default:
			return nodeBatch{data: make([]byte, 0, batchBytes+batchBytes/4), spans: make([]span, 0, 1<<14), ends: make([]int, 0, 1<<10)}
		}
	}
	out := make(chan nodeResult, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wp := &parser{s: p.s, m: &Manifest{}, strs: make(map[string]string, 8192)}
			for b := range jobs {
				out <- wp.parseBatch(b)
				select {
				case free <- b:
				default:
				}
			}
		}()
	}
	var results []nodeResult
	collected := make(chan struct{})
	go func() {
		for r := range out {
			results = append(results, r)
		}
		close(collected)
	}()

	batch := newBatch()
	seq := 0
	flush := func() {
		if len(batch.ends) == 0 {
			return
		}
		batch.seq = seq
		seq++
		jobs <- batch
		batch = newBatch()
	}
	err := s.object(func([]byte) error {
		err := s.objectEarlyKey(func(k []byte) error {
			key := nodeKey(k)
			if key == "" {
				return s.skip()
			}
			v, err := s.value()
			if err != nil {
				return err
			}
			start := len(batch.data)
			batch.data = append(batch.data, v...)
			batch.spans = append(batch.spans, span{key: key, start: start, end: len(batch.data), off: s.off + int64(s.pos-len(v))})
			return nil
		})
		if err != nil {
			return err
		}
		batch.ends = append(batch.ends, len(batch.spans))
		if len(batch.data) >= batchBytes {
			flush()
		}
		return nil
	})
	if err == nil {
		flush()
	}
	close(jobs)
	wg.Wait()
	close(out)
	<-collected
	if err != nil {
		return err
	}
	slices.SortFunc(results, func(a, b nodeResult) int { return a.seq - b.seq })
	for _, r := range results {
		if r.err != nil {
			return r.err
		}
		for _, n := range r.nodes {
			p.addNode(n)
		}
	}
	return nil
}

// locate turns the position of a syntax error inside a node value that
// starts at input offset off into a position in the input. The line is
// known when the whole input is in memory (read only, so safe to share).
func (p *parser) locate(se *syntaxError, off int64) {
	se.Offset += off
	se.Line = 0
	if in := p.s; in.r == nil && se.Offset <= int64(len(in.buf)) {
		se.Line = 1 + bytes.Count(in.buf[:se.Offset], []byte{'\n'})
	}
}

// parseBatch parses the node values of one batch.
func (p *parser) parseBatch(b nodeBatch) nodeResult {
	res := nodeResult{seq: b.seq, nodes: make([]*Node, 0, len(b.ends))}
	start := 0
	for _, end := range b.ends {
		members := b.spans[start:end]
		start = end
		n, err := p.node(func(fn func(string, []byte)) error {
			for _, m := range members {
				fn(m.key, b.data[m.start:m.end])
				if se, ok := p.err.(*syntaxError); ok {
					p.locate(se, m.off)
					break
				}
			}
			return p.err
		})
		if err != nil {
			res.err = err
			return res
		}
		res.nodes = append(res.nodes, n)
	}
	return res
}
