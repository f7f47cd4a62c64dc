package benchpair

import (
	"errors"
	"testing"
	"time"
)

func TestMedianCIKnownIndices(t *testing.T) {
	// Published order-statistic intervals for the median at 95%: for
	// n=100 the 40th and 61st values (1-based), for n=20 the 6th and 15th.
	for _, c := range []struct{ n, lo, hi int }{{100, 40, 61}, {20, 6, 15}} {
		xs := make([]float64, c.n)
		for i := range xs {
			xs[i] = float64(c.n - i) // reversed: MedianCI must sort
		}
		lo, hi := MedianCI(xs)
		if int(lo) != c.lo || int(hi) != c.hi {
			t.Errorf("n=%d: got %v..%v, want %d..%d", c.n, lo, hi, c.lo, c.hi)
		}
	}
}

func TestRunSeesADifference(t *testing.T) {
	spin := func(d time.Duration) Op {
		return func(n int) error {
			for range n {
				for t0 := time.Now(); time.Since(t0) < d; {
				}
			}
			return nil
		}
	}
	r, err := Run(40, 20, spin(2*time.Microsecond), spin(12*time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	// 10 µs apart by construction; a loaded machine only stretches both.
	if r.DiffLow < 5000 || r.Diff < 8000 {
		t.Errorf("difference of a 2 µs and a 12 µs spin: %v", r)
	}
	if !(r.DiffLow <= r.Diff && r.Diff <= r.DiffHigh) {
		t.Errorf("interval does not hold the median: %v", r)
	}
}

func TestRunReportsFailures(t *testing.T) {
	boom := errors.New("boom")
	ok := func(int) error { return nil }
	if _, err := Run(10, 1, ok, func(int) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("got %v", err)
	}
	if _, err := Run(2, 1, ok, ok); err == nil {
		t.Error("2 rounds accepted")
	}
}
