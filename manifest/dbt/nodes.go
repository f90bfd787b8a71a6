package dbt

import (
	"bytes"
	"runtime"
	"slices"
	"sync"
)

// Nodes are most of a manifest. With more than one CPU they are parsed by
// workers: the reading goroutine cuts the nodes object into batches of
// whole node values and each worker parses batches with its own parser
// state; results are merged in file order.
const batchBytes = 1 << 20

type nodeBatch struct {
	seq  int
	data []byte
	ends []int   // end offset of each node value in data
	offs []int64 // input offset of each node value
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
	free := make(chan []byte, 2*workers+2)
	newBuf := func() []byte {
		select {
		case b := <-free:
			return b[:0]
		default:
			return make([]byte, 0, batchBytes+batchBytes/4)
		}
	}
	out := make(chan nodeResult, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wp := &parser{s: p.s, m: &Manifest{}, strs: make(map[string]string, 1024)}
			for b := range jobs {
				out <- wp.parseBatch(b)
				select {
				case free <- b.data:
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

	batch := nodeBatch{data: newBuf()}
	seq := 0
	flush := func() {
		if len(batch.ends) == 0 {
			return
		}
		batch.seq = seq
		seq++
		jobs <- batch
		batch = nodeBatch{data: newBuf()}
	}
	err := s.object(func([]byte) error {
		raw, err := s.value()
		if err != nil {
			return err
		}
		batch.offs = append(batch.offs, s.off+int64(s.pos-len(raw)))
		batch.data = append(batch.data, raw...)
		batch.ends = append(batch.ends, len(batch.data))
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
	for i, end := range b.ends {
		raw := b.data[start:end]
		start = end
		n, err := p.node(func(fn func(string, []byte)) error {
			p.members(depthNode, raw, fn)
			if se, ok := p.err.(*syntaxError); ok {
				p.locate(se, b.offs[i])
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
