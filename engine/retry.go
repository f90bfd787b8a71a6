package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/eltproject/elt/asset"
)

// Retries: the delay before each attempt and which assets a retry runs.

// delay returns the wait before retry number n (1-based).
func (p RetryPolicy) delay(n int) time.Duration {
	d := p.Delay
	switch p.Backoff {
	case "constant":
	case "linear":
		d = p.Delay * time.Duration(n)
	default: // exponential
		for i := 1; i < n && d < time.Hour; i++ {
			d *= 2
		}
	}
	if p.MaxDelay > 0 && d > p.MaxDelay {
		d = p.MaxDelay
	}
	if p.Jitter > 0 && d > 0 {
		f := 1 + p.Jitter*(2*rand.Float64()-1)
		d = time.Duration(float64(d) * f)
	}
	return d
}

func errOr(err error) error {
	if err == nil {
		return errors.New("some assets failed")
	}
	return err
}

// retryable keeps the failed assets a retry may run: not those below an
// asset of this step whose blocking check failed in the attempt (the tool
// skipped them for that reason; they are marked blocked_by_check).
func (x *execution) retryable(ctx context.Context, st *Step, failed []asset.Key) []asset.Key {
	inStep := make(map[asset.Key]bool, len(st.Assets))
	for _, k := range st.Assets {
		inStep[k] = true
	}
	dropped := map[asset.Key]bool{}
	var keep []asset.Key
	for _, k := range failed { // failed is in topological order
		why := ""
		for _, d := range x.e.Graph.DirectDeps(k) {
			if !inStep[d] {
				continue
			}
			x.mu.Lock()
			blocked := x.blocked[d]
			x.mu.Unlock()
			if blocked || dropped[d] {
				why = "a blocking check of " + d.String() + " failed"
				break
			}
		}
		if why == "" {
			keep = append(keep, k)
			continue
		}
		dropped[k] = true
		x.setAsset(k, StatusBlockedByCheck)
		x.emit(ctx, Event{Type: AssetSkipped, StepID: st.ID, Asset: k, Status: StatusBlockedByCheck, Message: why})
	}
	return keep
}
