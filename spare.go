package carton

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/carton-run/carton/tensor"
)

// maxSpareMaps bounds the output maps a Model keeps for reuse beyond its
// fast slot: enough for the goroutines of a busy server calling one model
// at once; a map given back beyond it is left to the collector.
const maxSpareMaps = 16

// spareMaps holds output maps given back through ReleaseOutputs, for Infer
// to refill instead of allocating: a map reused is warm in the cache and
// overwritten in place, a fresh one costs more after a forward than its
// allocation (RATIONALE.md, "Infer reuses the maps ReleaseOutputs gives
// back"). One map waits in an atomic slot, which is all a goroutine
// calling in a loop needs; more wait in a list under a mutex.
type spareMaps struct {
	slot  atomic.Pointer[mapObject]
	nMore atomic.Int32 // len(more), read without the mutex
	mu    sync.Mutex
	more  []*mapObject
}

// mapObject stands for the runtime's map object: a map value is a pointer
// to it, which is how the maps travel through the atomic slot.
type mapObject struct{}

func mapPointer(m map[string]tensor.Tensor) *mapObject {
	return *(**mapObject)(unsafe.Pointer(&m))
}

func mapOf(p *mapObject) map[string]tensor.Tensor {
	return *(*map[string]tensor.Tensor)(unsafe.Pointer(&p))
}

// take returns a spare map, or nil when there is none.
func (s *spareMaps) take() map[string]tensor.Tensor {
	if p := s.slot.Swap(nil); p != nil {
		return mapOf(p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.more)
	if n == 0 {
		return nil
	}
	p := s.more[n-1]
	s.more[n-1] = nil
	s.more = s.more[:n-1]
	s.nMore.Store(int32(n - 1))
	return mapOf(p)
}

// put keeps m for a later take unless it is already kept (a second
// ReleaseOutputs of one map would otherwise hand it to two calls) or the
// list is full. While the list is empty the slot alone says whether m is
// kept: a goroutine calling in a loop takes no lock.
func (s *spareMaps) put(m map[string]tensor.Tensor) {
	p := mapPointer(m)
	if s.nMore.Load() == 0 && (s.slot.Load() == p || s.slot.CompareAndSwap(nil, p)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slot.Load() == p {
		return
	}
	for _, kept := range s.more {
		if kept == p {
			return
		}
	}
	if s.slot.CompareAndSwap(nil, p) || len(s.more) == maxSpareMaps {
		return
	}
	s.more = append(s.more, p)
	s.nMore.Store(int32(len(s.more)))
}

// drop lets the collector have every spare map (when the model closes).
func (s *spareMaps) drop() {
	s.slot.Store(nil)
	s.mu.Lock()
	s.more = nil
	s.nMore.Store(0)
	s.mu.Unlock()
}

// ReleaseOutputs releases every tensor in outputs, a map Infer returned,
// and gives the map back to the model: a later Infer refills it instead of
// allocating a new one, which saves what the map costs per call (two
// allocations, and more in cache misses: BENCHMARKS.md). After the call
// neither outputs nor the tensors it held may be used, since another
// goroutine's Infer may be filling the map; keep what you need with
// Tensor.Clone first. Giving the same map back twice with no Infer
// between is harmless (it is kept once), but once an Infer has taken it
// again it is that call's: giving it back then releases that call's
// outputs, and while the call is still filling it is a data race on the
// map. A nil map does nothing. Safe for concurrent use, like Infer.
func (m *Model) ReleaseOutputs(outputs map[string]tensor.Tensor) {
	if outputs == nil {
		return
	}
	for name, t := range outputs {
		t.Release()
		// A spare map must not keep large Go memory alive (an output
		// aliasing a large input, say, or strings of any size). Other
		// entries stay until the next Infer overwrites them in place:
		// released framework memory is gone already, and a small Go
		// buffer costs less kept than a map store costs.
		if !t.IsForeign() && (t.ByteLen() > spareKeepMaxBytes || t.DType() == tensor.String) {
			outputs[name] = tensor.Tensor{}
		}
	}
	m.spare.put(outputs)
}

// spareKeepMaxBytes is the most Go memory an output in a spare map may keep
// alive.
const spareKeepMaxBytes = 64 << 10
