package benchpair

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/carton-run/carton/tensor"
)

// Op runs an operation n times and reports the first failure.
type Op func(n int) error

// Inferer is what Infers calls: a *carton.Model or a backend.Session.
type Inferer interface {
	Infer(ctx context.Context, inputs map[string]tensor.Tensor) (map[string]tensor.Tensor, error)
}

// Repeat is the Op of n calls of f (a floor that reports failures itself).
func Repeat(f func()) Op {
	return func(n int) error {
		for range n {
			f()
		}
		return nil
	}
}

// IntoInferer is what InfersInto calls: a *carton.Model.
type IntoInferer interface {
	InferInto(ctx context.Context, inputs, outputs map[string]tensor.Tensor) error
}

// InfersInto is Infers through InferInto, with one output map for all
// calls.
func InfersInto(ctx context.Context, m IntoInferer, inputs map[string]tensor.Tensor) Op {
	outputs := map[string]tensor.Tensor{}
	return func(n int) error {
		for range n {
			if err := m.InferInto(ctx, inputs, outputs); err != nil {
				return err
			}
			for _, t := range outputs {
				t.Release()
			}
		}
		return nil
	}
}

// OutputReleaser is what InfersReleasing gives outputs back to: a
// *carton.Model.
type OutputReleaser interface {
	ReleaseOutputs(outputs map[string]tensor.Tensor)
}

// InfersReleasing is Infers with each call's outputs given back through
// ReleaseOutputs, which releases them and lets the next call write its
// outputs over their memory.
func InfersReleasing[M interface {
	Inferer
	OutputReleaser
}](ctx context.Context, m M, inputs map[string]tensor.Tensor) Op {
	return func(n int) error {
		for range n {
			out, err := m.Infer(ctx, inputs)
			if err != nil {
				return err
			}
			m.ReleaseOutputs(out)
		}
		return nil
	}
}

// InfersIntoReleasing is InfersInto with each call's outputs given back
// through ReleaseOutputs: the loop that allocates nothing per call.
func InfersIntoReleasing[M interface {
	IntoInferer
	OutputReleaser
}](ctx context.Context, m M, inputs map[string]tensor.Tensor) Op {
	outputs := map[string]tensor.Tensor{}
	return func(n int) error {
		for range n {
			if err := m.InferInto(ctx, inputs, outputs); err != nil {
				return err
			}
			m.ReleaseOutputs(outputs)
		}
		return nil
	}
}

// Infers is the Op of n Infer calls with the same inputs, each call's
// outputs released before the next, as a caller that is done with them.
func Infers(ctx context.Context, m Inferer, inputs map[string]tensor.Tensor) Op {
	return func(n int) error {
		for range n {
			out, err := m.Infer(ctx, inputs)
			if err != nil {
				return err
			}
			for _, t := range out {
				t.Release()
			}
		}
		return nil
	}
}

// Result is the outcome of Run. Times are nanoseconds per operation.
type Result struct {
	Rounds int
	// A and B are the medians over rounds of each side's time per op.
	A, B float64
	// Diff is the median over rounds of B-A per op; DiffLow and DiffHigh
	// bound it with 95% confidence.
	Diff, DiffLow, DiffHigh float64
	// MeanDiff is the mean over rounds of B-A per op: unlike the median
	// it charges a side for costs it pays in some rounds only (a batch
	// of work done every k calls, a collection), at the price of also
	// counting the machine's hiccups.
	MeanDiff float64
}

func (r Result) String() string {
	return fmt.Sprintf("A %.0f ns/op, B %.0f ns/op, B-A %+.0f ns/op (95%% CI %+.0f..%+.0f, mean %+.0f, %d rounds)",
		r.A, r.B, r.Diff, r.DiffLow, r.DiffHigh, r.MeanDiff, r.Rounds)
}

// pairing collects the rounds of one comparison.
type pairing struct {
	batch      int
	a, b       Op
	as, bs, ds []float64
}

// warmUp runs n untimed rounds: the first batches after a load run
// measurably slower than the rest.
func (p *pairing) warmUp(n int) error {
	for range n {
		if err := p.a(p.batch); err != nil {
			return err
		}
		if err := p.b(p.batch); err != nil {
			return err
		}
	}
	return nil
}

func (p *pairing) timed(op Op) (float64, error) {
	t0 := time.Now()
	err := op(p.batch)
	return float64(time.Since(t0)) / float64(p.batch), err
}

// round times one batch of each side, a first in even rounds and b first
// in odd ones.
func (p *pairing) round() error {
	var ta, tb float64
	var errA, errB error
	if len(p.ds)%2 == 0 {
		ta, errA = p.timed(p.a)
		tb, errB = p.timed(p.b)
	} else {
		tb, errB = p.timed(p.b)
		ta, errA = p.timed(p.a)
	}
	if errA != nil {
		return errA
	}
	if errB != nil {
		return errB
	}
	p.as, p.bs, p.ds = append(p.as, ta), append(p.bs, tb), append(p.ds, tb-ta)
	return nil
}

func (p *pairing) result() Result {
	lo, hi := MedianCI(p.ds)
	return Result{Rounds: len(p.ds), A: Median(p.as), B: Median(p.bs), Diff: Median(p.ds), DiffLow: lo, DiffHigh: hi,
		MeanDiff: mean(p.ds)}
}

// Run times rounds rounds of batch operations of a and of b, alternating
// which goes first, after rounds/4 (at least one) untimed rounds.
func Run(rounds, batch int, a, b Op) (Result, error) {
	if rounds < 8 || batch < 1 {
		return Result{}, fmt.Errorf("benchpair: need at least 8 rounds and a batch of 1 (got %d, %d)", rounds, batch)
	}
	p := &pairing{batch: batch, a: a, b: b}
	if err := p.warmUp(max(rounds/4, 1)); err != nil {
		return Result{}, err
	}
	for range rounds {
		if err := p.round(); err != nil {
			return Result{}, err
		}
	}
	return p.result(), nil
}

// Median returns the median of xs (the upper one for an even count).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// MedianCI returns a distribution-free 95% confidence interval for the
// median of xs: the order statistics k and n-1-k, with k the largest index
// for which P(Binomial(n, 1/2) <= k) <= 2.5%.
func MedianCI(xs []float64) (lo, hi float64) {
	n := len(xs)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := binomialLowerIndex(n)
	return s[k], s[n-1-k]
}

func binomialLowerIndex(n int) int {
	// Cumulative Binomial(n, 1/2) in log space: fine for any n here.
	cdf := 0.0
	k := -1
	for i := 0; i < n; i++ {
		lg1, _ := math.Lgamma(float64(n + 1))
		lg2, _ := math.Lgamma(float64(i + 1))
		lg3, _ := math.Lgamma(float64(n - i + 1))
		cdf += math.Exp(lg1 - lg2 - lg3 - float64(n)*math.Ln2)
		if cdf > 0.025 {
			break
		}
		k = i
	}
	if k < 0 {
		return 0 // too few samples for 95%: the full range
	}
	return k
}

// Report adds r to a benchmark's output as metrics benchstat reads:
// <aName>-ns/op, <bName>-ns/op, and the difference as added-ns/op with
// its interval as added-low-ns/op and added-high-ns/op, and the mean
// difference as added-mean-ns/op.
func Report(b *testing.B, r Result, aName, bName string) {
	b.ReportMetric(r.A, aName+"-ns/op")
	b.ReportMetric(r.B, bName+"-ns/op")
	b.ReportMetric(r.Diff, "added-ns/op")
	b.ReportMetric(r.DiffLow, "added-low-ns/op")
	b.ReportMetric(r.DiffHigh, "added-high-ns/op")
	b.ReportMetric(r.MeanDiff, "added-mean-ns/op")
	b.Logf("%s vs %s: %v", bName, aName, r)
}

// Bench compares a and bOp inside a benchmark: one round (a batch of each)
// per b.Loop iteration, after 20 untimed warm-up rounds, so -benchtime
// sets the number of rounds (1s: several hundred to a few thousand). It reports the result with Report; the benchmark's ns/op is
// the time of a round.
func Bench(b *testing.B, batch int, aName string, a Op, bName string, bOp Op) {
	p := &pairing{batch: batch, a: a, b: bOp}
	if err := p.warmUp(20); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := p.round(); err != nil {
			b.Fatal(err)
		}
	}
	if len(p.ds) < 8 {
		b.Fatalf("benchpair: %d rounds are too few for an interval; raise -benchtime", len(p.ds))
	}
	Report(b, p.result(), aName, bName)
}

// API is one way of calling a model, for benchmarks that compare them.
type API struct {
	Name string // in paired benchmarks: api=Name
	Impl string // in the timed ones (TimeAPIs): impl=Impl
	Op   Op
	// Shared: Op may run on several goroutines at once (InferInto's one
	// output map may not).
	Shared bool
}

// Model is every way of calling a model APIs compares: a *carton.Model.
type Model interface {
	Inferer
	IntoInferer
	OutputReleaser
}

// APIs returns, on m with inputs: Infer with each output released,
// Infer with the outputs given back through ReleaseOutputs, InferInto, and
// InferInto with the outputs given back.
func APIs[M Model](ctx context.Context, m M, inputs map[string]tensor.Tensor) []API {
	return []API{
		{Name: "Infer", Impl: "carton", Op: Infers(ctx, m, inputs), Shared: true},
		{Name: "InferRelease", Impl: "carton-release", Op: InfersReleasing(ctx, m, inputs), Shared: true},
		{Name: "InferInto", Impl: "carton-into", Op: InfersInto(ctx, m, inputs)},
		{Name: "InferIntoRelease", Impl: "carton-into-release", Op: InfersIntoReleasing(ctx, m, inputs)},
	}
}

// TimeAPIs times each API of m on inputs, reporting allocations, as the
// sub-benchmarks prefix+"/impl=carton", "/impl=carton-release",
// "/impl=carton-into" and "/impl=carton-into-release".
func TimeAPIs[M Model](b *testing.B, prefix string, ctx context.Context, m M, inputs map[string]tensor.Tensor) {
	for _, api := range APIs(ctx, m, inputs) {
		b.Run(prefix+"/impl="+api.Impl, func(b *testing.B) {
			b.ReportAllocs()
			Time(b, api.Op)
		})
	}
}

// TimeParallelAPIs is TimeAPIs with GOMAXPROCS goroutines calling at once
// (b.RunParallel), for the APIs whose Op may be shared: Infer with each
// output released, and with the outputs given back, so that maps and
// their memory pass between goroutines.
func TimeParallelAPIs[M Model](b *testing.B, prefix string, ctx context.Context, m M, inputs map[string]tensor.Tensor) {
	for _, api := range APIs(ctx, m, inputs) {
		if !api.Shared {
			continue
		}
		b.Run(prefix+"/impl="+api.Impl, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := api.Op(1); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchAPIs runs Bench between a floor and each API of m, as the
// sub-benchmarks prefix+"/api=Infer", "/api=InferRelease",
// "/api=InferInto" and "/api=InferIntoRelease". floor makes the floor's Op inside each sub-benchmark,
// so that the Op may fail that sub-benchmark.
func BenchAPIs[M Model](b *testing.B, prefix string, ctx context.Context, m M, inputs map[string]tensor.Tensor, batch int, floorName string, floor func(*testing.B) Op) {
	for _, api := range APIs(ctx, m, inputs) {
		b.Run(prefix+"/api="+api.Name, func(b *testing.B) {
			Bench(b, batch, floorName, floor(b), "carton", api.Op)
		})
	}
}

// Time runs op over b.N operations in one go, as the benchmark's timed
// work.
func Time(b *testing.B, op Op) {
	b.ResetTimer()
	if err := op(b.N); err != nil {
		b.Fatal(err)
	}
}
