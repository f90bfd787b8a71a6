package dbt

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestZZHang(t *testing.T) {
	if os.Getenv("ZZGEN") == "" {
		t.Skip()
	}
	base, _ := os.ReadFile("testdata/state_base.json")
	seeds := [][]byte{base, []byte(`{"metadata":{"dbt_schema_version":"x/manifest/v12.json"},"sources":{"s":{"unique_id":"s","meta":{"a":[1,{"b":null}]}}},"groups":{"g":{"unique_id":"g","owner":{"email":"e"}}}}`)}
	rng := rand.New(rand.NewPCG(1, 2))
	alpha := []byte("{}[]\":,\\ u0a1n")
	for iter := 0; iter < 300000; iter++ {
		d := append([]byte(nil), seeds[rng.IntN(len(seeds))]...)
		for k := 0; k < 1+rng.IntN(4); k++ {
			if len(d) == 0 {
				break
			}
			switch rng.IntN(3) {
			case 0:
				d[rng.IntN(len(d))] = alpha[rng.IntN(len(alpha))]
			case 1:
				i := rng.IntN(len(d))
				d = append(d[:i], d[i+1:]...)
			case 2:
				i := rng.IntN(len(d))
				d = d[:i]
			}
		}
		done := make(chan bool)
		go func() {
			select {
			case <-done:
			case <-time.After(3 * time.Second):
				os.WriteFile("/tmp/hang.json", d, 0o644)
				fmt.Println("HANG, written /tmp/hang.json")
				os.Exit(3)
			}
		}()
		m, err := ParseManifest(d, "x")
		if err == nil {
			parseManifest(newReaderScanner(iotest.HalfReader(strings.NewReader(string(d))), "x"))
			Compare(m, m)
		}
		close(done)
	}
}
