package main

import (
	"math/bits"
	"time"
)

// hist is a log-linear latency histogram: exact below 64 ns, then 32 buckets
// per power of two (about 3% resolution). Fixed size, no allocation per
// sample, one per goroutine, merged at the end.
type hist struct {
	counts [60 * 32]uint64
	n      uint64
	max    uint64
}

func bucketOf(v uint64) int {
	if v < 64 {
		return int(v)
	}
	shift := bits.Len64(v) - 6
	return (shift+1)*32 + int(v>>uint(shift)) - 32
}

// bucketMid is the middle of a bucket's range, in ns.
func bucketMid(i int) uint64 {
	if i < 64 {
		return uint64(i)
	}
	shift := uint(i/32 - 1)
	low := uint64(i%32+32) << shift
	return low + (uint64(1)<<shift)/2
}

func (h *hist) add(d time.Duration) {
	v := uint64(d)
	h.counts[bucketOf(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile q in (0, 1]; 0 when empty.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	want := uint64(q*float64(h.n) + 0.5)
	if want < 1 {
		want = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= want {
			return time.Duration(bucketMid(i))
		}
	}
	return time.Duration(h.max)
}
