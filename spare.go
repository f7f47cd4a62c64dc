package carton

import (
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/carton-run/carton/internal/racebuild"
	"github.com/carton-run/carton/tensor"
)

// maxSpareMaps bounds the output maps a Model keeps beyond each pool's
// fast slot: enough for the goroutines of a busy server calling one model
// at once.
const maxSpareMaps = 16

// spareMap is an output map Infer returned, with the Go block its outputs
// occupy when the session carves them from one (backend.BlockSession).
// It travels with its map: from Infer to the lent pool, from
// ReleaseOutputs to the spare pool, and back to Infer, which refills the
// map and offers the block to the session again. A map reused is warm in
// the cache and overwritten in place; a fresh one costs more after a
// forward than its allocation, and so does a fresh block (RATIONALE.md,
// "Infer reuses the maps ReleaseOutputs gives back").
type spareMap struct {
	m     map[string]tensor.Tensor
	block []byte
}

func (e *spareMap) holds(p *mapObject) bool { return mapPointer(e.m) == p }

// mapPool holds spareMaps, at most one per map: one in an atomic slot,
// which is all a goroutine calling in a loop needs, up to maxSpareMaps
// more in a list under a mutex. A Model has two: spare (maps given back,
// for Infer to take) and lent (maps Infer returned, until given back).
type mapPool struct {
	slot  atomic.Pointer[spareMap]
	nMore atomic.Int32 // len(more), read without the mutex
	mu    sync.Mutex
	more  []*spareMap
}

// mapObject stands for the runtime's map object: a map value is a pointer
// to it, which is how maps are compared.
type mapObject struct{}

func mapPointer(m map[string]tensor.Tensor) *mapObject {
	return *(**mapObject)(unsafe.Pointer(&m))
}

// take returns any entry, or nil when there is none.
func (s *mapPool) take() *spareMap {
	if e := s.slot.Swap(nil); e != nil {
		return e
	}
	if s.nMore.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.more)
	if n == 0 {
		return nil
	}
	e := s.more[n-1]
	s.more[n-1] = nil
	s.more = s.more[:n-1]
	s.nMore.Store(int32(n - 1))
	return e
}

// takeMap returns the entry holding map p, or nil when there is none.
func (s *mapPool) takeMap(p *mapObject) *spareMap {
	if e := s.slot.Load(); e != nil && e.holds(p) && s.slot.CompareAndSwap(e, nil) {
		return e
	}
	if s.nMore.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.slot.Load(); e != nil && e.holds(p) && s.slot.CompareAndSwap(e, nil) {
		return e
	}
	for i, e := range s.more {
		if e.holds(p) {
			s.more = slices.Delete(s.more, i, i+1)
			s.nMore.Store(int32(len(s.more)))
			return e
		}
	}
	return nil
}

// put keeps e unless an entry for its map is kept already (a second
// ReleaseOutputs of one map would otherwise hand it to two calls). When
// the list is full the oldest entry in it makes room: entries of maps a
// caller never gives back must not crowd out those of maps it does. While
// the list is empty the slot alone says what is kept: a goroutine calling
// in a loop takes no lock.
func (s *mapPool) put(e *spareMap) {
	p := mapPointer(e.m)
	if s.nMore.Load() == 0 {
		cur := s.slot.Load()
		if cur != nil && cur.holds(p) {
			return
		}
		if cur == nil && s.slot.CompareAndSwap(nil, e) {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.slot.Load(); cur != nil && cur.holds(p) {
		return
	}
	for _, kept := range s.more {
		if kept.holds(p) {
			return
		}
	}
	if s.slot.CompareAndSwap(nil, e) {
		return
	}
	if len(s.more) == maxSpareMaps {
		s.more = slices.Delete(s.more, 0, 1)
	}
	s.more = append(s.more, e)
	s.nMore.Store(int32(len(s.more)))
}

// drop lets the collector have every entry (when the model closes).
func (s *mapPool) drop() {
	s.slot.Store(nil)
	s.mu.Lock()
	s.more = nil
	s.nMore.Store(0)
	s.mu.Unlock()
}

// ReleaseOutputs releases every tensor in outputs, a map Infer returned,
// and gives the map back to the model: a later Infer refills it instead of
// allocating a new one, and writes the outputs it copies into Go memory
// over the memory this call's outputs occupied (libtorch, ONNX Runtime and
// TensorFlow copy small outputs). A loop that gives each map back makes
// no allocation per Infer, and touches memory still in the CPU's cache
// instead of fresh memory (BENCHMARKS.md).
//
// After the call neither outputs nor the tensors it held may be used,
// copies of them and slices taken from them (View, Bytes, Shape) included:
// another goroutine's Infer may be filling the map, and a later Infer may
// overwrite their data and shapes. Keep what you need with Tensor.Clone
// first: an output fed back as a later call's input (a recurrent state,
// say) is this rule's likeliest breach. Under the race detector (go test
// -race) the data taken back is overwritten with 0xff bytes at once (NaN
// floats, -1 integers), so that a test breaking the rule fails every time
// rather than now and then. Without it, a call never writes its outputs
// over one of its own inputs, but another goroutine's call may.
//
// Giving the same map back twice with no Infer between is harmless (it is
// kept once), but once an Infer has taken it again it is that call's:
// giving it back then releases that call's outputs, and while the call is
// still filling it is a data race on the map. A nil map does nothing. Safe
// for concurrent use, like Infer.
func (m *Model) ReleaseOutputs(outputs map[string]tensor.Tensor) {
	if outputs == nil {
		return
	}
	e := m.lent.takeMap(mapPointer(outputs))
	if e == nil { // not from Infer's lent pool: its outputs' block is unknown
		e = &spareMap{m: outputs}
	}
	for name, t := range outputs {
		t.Release()
		if racebuild.Enabled { // as sync.Pool drops items under the race detector
			poisonIn(e.block, t)
		}
		// A spare map must not keep large Go memory alive (an output
		// aliasing a large input, say, or strings of any size). Other
		// entries stay until the next Infer overwrites them in place:
		// released framework memory is gone already, and a small Go
		// buffer costs less kept than a map store costs.
		if !t.IsForeign() && (t.ByteLen() > spareKeepMaxBytes || t.DType() == tensor.String) {
			outputs[name] = tensor.Tensor{}
		}
	}
	m.spare.put(e)
}

// poisonIn fills t's data with 0xff bytes (NaN floats, -1 integers) when
// it lies in block, memory a later Infer will write over. Its shape stays
// as it was, so that a test breaking the rule fails on its values, not on
// an error about a shape nobody made.
func poisonIn(block []byte, t tensor.Tensor) {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(block)))
	if p := uintptr(t.Pointer()); p == 0 || p < lo || p >= lo+uintptr(cap(block)) {
		return
	}
	b := t.Bytes()
	for i := range b {
		b[i] = 0xff
	}
}

// spareKeepMaxBytes is the most Go memory an output in a spare map, or
// its block, may keep alive.
const spareKeepMaxBytes = 64 << 10
