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

// spareMap is the Go block a call's outputs occupy (when the session
// carves them from one: backend.BlockSession), with the map that holds
// them while it is lent out. Infer lends it with its map (the lent pool);
// ReleaseOutputs takes it back by that map, once, and keeps the block
// alone (the spare pool), for a later call to write its outputs over:
// memory warm in the cache, not fresh (RATIONALE.md, "A map given back
// brings its outputs' memory with it"). The map itself is never handed to
// another call: a caller that gave a map back twice, or late, can then
// only reach its own map, never another call's (RATIONALE.md, "Maps given
// back are not reused").
type spareMap struct {
	// key is the lent map; nil in the spare pool. Atomic: a pool reads
	// the key of an entry another goroutine may be taking and lending.
	key   atomic.Pointer[mapObject]
	block []byte
}

func (e *spareMap) lend(m map[string]tensor.Tensor) { e.key.Store(mapPointer(m)) }

func (e *spareMap) holds(p *mapObject) bool { return e.key.Load() == p }

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

// put keeps e unless an entry for its map is kept already (InferInto
// lends the caller's map again; entries in the spare pool hold no map and
// are each kept). When the list is full the oldest entry in it makes
// room: entries of maps a caller never gives back must not crowd out
// those of maps it does. While the list is empty the slot alone says what
// is kept: a goroutine calling in a loop takes no lock.
func (s *mapPool) put(e *spareMap) {
	p := e.key.Load()
	if s.nMore.Load() == 0 {
		cur := s.slot.Load()
		if p != nil && cur != nil && cur.holds(p) {
			return
		}
		if cur == nil && s.slot.CompareAndSwap(nil, e) {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.slot.Load(); p != nil && cur != nil && cur.holds(p) {
		return
	}
	for _, kept := range s.more {
		if p != nil && kept.holds(p) {
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

// ReleaseOutputs releases every tensor in outputs, a map Infer or
// InferInto returned or filled, and gives the memory its outputs occupy
// back to the model: a later Infer writes the outputs it copies into Go
// memory over it (libtorch, ONNX Runtime and TensorFlow copy small
// outputs), memory still in the CPU's cache, instead of allocating. A loop
// of InferInto on one map of its own and ReleaseOutputs allocates nothing
// per call; Infer allocates only its new map (docs/benchmarks-history.md).
//
// After the call neither the tensors outputs held, nor copies of them or
// slices taken from them (View, Bytes, Shape), may be used: a later Infer
// may overwrite their data. Keep what you need with Tensor.Clone first:
// an output fed back as a later call's input (a recurrent state, say) is
// this rule's likeliest breach. Under the race detector (go test -race)
// the data taken back is overwritten with 0xff bytes at once (NaN floats,
// -1 integers), so that a test breaking the rule fails every time rather
// than now and then. Without it, a call never writes its outputs over one
// of its own inputs, but another goroutine's call may.
//
// The map stays the caller's (Infer never hands it to another call), so
// giving it back twice, from one goroutine or several at once, and in any
// order with other calls, takes its memory back once and does nothing
// more. A nil map does nothing. Safe for concurrent use, like Infer.
func (m *Model) ReleaseOutputs(outputs map[string]tensor.Tensor) {
	if outputs == nil {
		return
	}
	// Taking the entry lent with this map is what gives its block back:
	// one caller takes it; any other release of the map finds none.
	e := m.lent.takeMap(mapPointer(outputs))
	for _, t := range outputs {
		t.Release()                        // idempotent
		if e != nil && racebuild.Enabled { // as sync.Pool drops items under the race detector
			poisonIn(e.block, t)
		}
	}
	if e == nil {
		// A map lent without an entry (a first call's), or given back
		// already: an entry without a block lets the next call lend its
		// map with one.
		e = &spareMap{}
	}
	e.key.Store(nil)
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
