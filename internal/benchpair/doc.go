// Package benchpair measures how much slower one implementation of an
// operation is than another, side by side in one process.
//
// A shared VM drifts by tens of percent over seconds, more than the
// microsecond differences carton's overhead goals are about, so two
// benchmarks run one after the other cannot resolve them. Run and Bench
// (the same inside a testing.B, one round per b.Loop iteration) alternate
// short timed batches of the two (A B, then B A, so neither always runs
// first with warm caches), take the per-operation difference of each
// round, and report the median difference with a distribution-free 95%
// confidence interval (order statistics of the binomial distribution):
// drift slower than one round cancels out of every difference.
//
// It is used by the overhead benchmarks only. Functions are not safe for
// concurrent use; the callbacks run on the calling goroutine.
package benchpair
