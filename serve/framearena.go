package serve

import (
	"sync"
	"unsafe"

	"google.golang.org/grpc/mem"
)

// A frameArena is the mem.BufferPool a NewGRPCServer's transport reads
// HTTP/2 DATA frames into. It places buffers one after another in large
// chunks, so the frames of a message that arrives uninterrupted lie
// contiguous in memory: the decoder then takes the raw inputs as views of
// the frames themselves (view) instead of copying the message out of them.
// Frames of other connections or streams arriving in between, a padded
// frame, or a chunk's end break the run; such a message is copied, as
// with any pool.
//
// Each buffer starts at an address congruent to phase modulo alignment,
// so a run of full frames (16 KiB, a multiple of alignment) stays
// contiguous, and the decoder moves phase so that the next message of the
// same layout has its first raw input aligned (alignTo).
//
// A chunk is reused once every buffer placed in it is back; a buffer held
// (a request queued or running) keeps its chunk. Chunks in use are capped
// at maxArenaBytes: beyond it, and for buffers over maxArenaBuffer, Get
// falls back to gRPC's default pool, so a client that holds many
// streams' frames cannot make the arena grow without bound.
type frameArena struct {
	mu      sync.Mutex
	cur     *arenaChunk
	prevEnd int // where in cur the last buffer ended
	runLen  int // bytes in the current run of buffers placed one after another
	lastRun int // the previous run's
	inUse   int // bytes of chunks in use: cur and retired ones with buffers out
	chunks  []*arenaChunk
	phase   uintptr
	views   int       // messages view returned in place
	free    sync.Pool // *arenaChunk, every buffer back
	handles sync.Pool // *[]byte
}

// arenaChunk is one chunk of a frameArena and the count of its buffers
// not yet back. A chunk other than the arena's cur is retired: it is
// reused once out is 0.
type arenaChunk struct {
	mem []byte
	out int
}

const (
	arenaChunkBytes = 8 << 20
	maxArenaBytes   = 64 << 20
	maxArenaBuffer  = 64 << 10
)

func newFrameArena() *frameArena { return &frameArena{} }

// Get implements mem.BufferPool.
func (a *frameArena) Get(n int) *[]byte {
	if n <= 0 || n > maxArenaBuffer {
		return mem.DefaultBufferPool().Get(n)
	}
	a.mu.Lock()
	start, c := a.place(n)
	a.mu.Unlock()
	if c == nil {
		return mem.DefaultBufferPool().Get(n)
	}
	return a.handle(c.mem[start : start+n : start+n])
}

// handle is a pooled *[]byte holding b, as Get returns and Put takes.
func (a *frameArena) handle(b []byte) *[]byte {
	h, _ := a.handles.Get().(*[]byte)
	if h == nil {
		h = new([]byte)
	}
	*h = b
	return h
}

// place finds room for n bytes, in a.cur or a new chunk, and counts them
// out; c is nil if the arena is at its cap. a.mu is held.
func (a *frameArena) place(n int) (start int, c *arenaChunk) {
	continues := false
	if a.cur != nil {
		start = a.aligned(a.cur, a.prevEnd)
		continues = start == a.prevEnd
	}
	if !continues {
		a.lastRun, a.runLen = a.runLen, 0
	}
	if a.cur != nil {
		room := len(a.cur.mem) - start
		// A new run starts where one as long as the last fits, so that a
		// message like the last does not straddle two chunks.
		if room < n || (!continues && room < a.lastRun && a.lastRun <= len(a.cur.mem)/2) {
			c := a.cur
			a.cur = nil
			if c.out == 0 {
				a.recycle(c)
			}
		}
	}
	if a.cur == nil {
		if a.inUse+arenaChunkBytes > maxArenaBytes {
			return 0, nil
		}
		c, _ := a.free.Get().(*arenaChunk)
		if c == nil {
			c = &arenaChunk{mem: make([]byte, arenaChunkBytes)}
		}
		a.cur, a.inUse = c, a.inUse+len(c.mem)
		a.chunks = append(a.chunks, c)
		start = a.aligned(c, 0)
	}
	a.runLen += n
	a.prevEnd = start + n
	a.cur.out++
	return start, a.cur
}

// aligned is the first offset in c from off whose address is congruent to
// a.phase modulo alignment.
func (a *frameArena) aligned(c *arenaChunk, off int) int {
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(c.mem))) + uintptr(off)
	return off + int((a.phase-addr)&(alignment-1))
}

// recycle returns a retired chunk with every buffer back to the free
// pool. a.mu is held.
func (a *frameArena) recycle(c *arenaChunk) {
	a.inUse -= len(c.mem)
	for i, x := range a.chunks {
		if x == c {
			a.chunks = append(a.chunks[:i], a.chunks[i+1:]...)
			break
		}
	}
	a.free.Put(c)
}

// Put implements mem.BufferPool: buffers that are not the arena's go to
// gRPC's default pool, where they came from.
func (a *frameArena) Put(h *[]byte) {
	a.mu.Lock()
	c := a.chunkOf(uintptr(unsafe.Pointer(unsafe.SliceData(*h))), cap(*h))
	if c == nil {
		a.mu.Unlock()
		mem.DefaultBufferPool().Put(h)
		return
	}
	c.out--
	if c.out == 0 && c != a.cur {
		a.recycle(c)
	}
	a.mu.Unlock()
	*h = nil
	a.handles.Put(h)
}

// chunkOf is the chunk in use holding the n bytes at addr, or nil. a.mu is
// held.
func (a *frameArena) chunkOf(addr uintptr, n int) *arenaChunk {
	for _, c := range a.chunks {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(c.mem)))
		if addr >= base && addr+uintptr(n) <= base+uintptr(len(c.mem)) {
			return c
		}
	}
	return nil
}

// maxArenaTail is the most of a message's end that view copies into the
// arena after its frames: gRPC makes buffers under 1 KiB itself, not from
// the pool, so a message's last frame, when short, is never in place.
const maxArenaTail = 4 << 10

// view is data's bytes as one slice of the arena's memory, if data's
// buffers lie one after another in one chunk, but for a short end
// (maxArenaTail) that is copied in place after them while that room is
// still free; otherwise nil. The caller holds references to data's
// buffers (mem.BufferSlice.Ref) for as long as it reads the view, and
// gives tail, if not nil, back with Put (not as a mem.Buffer: one under
// grpc-go's pooling threshold would never be given back).
func (a *frameArena) view(data mem.BufferSlice) (msg []byte, tail *[]byte) {
	if a == nil || len(data) == 0 {
		return nil, nil
	}
	first := data[0].ReadOnlyData()
	if mem.IsBelowBufferPoolingThreshold(len(first)) {
		return nil, nil // gRPC made it, not the pool: a small message, copied
	}
	// Addresses as integers: one past a buffer's end may be no allocation.
	start := uintptr(unsafe.Pointer(unsafe.SliceData(first)))
	n, i := 0, 0
	for ; i < len(data); i++ {
		d := data[i].ReadOnlyData()
		if len(d) == 0 || uintptr(unsafe.Pointer(unsafe.SliceData(d))) != start+uintptr(n) {
			break
		}
		n += len(d)
	}
	total := data.Len()
	if total-n > maxArenaTail {
		return nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.chunkOf(start, n)
	if c == nil {
		return nil, nil
	}
	off := int(start - uintptr(unsafe.Pointer(unsafe.SliceData(c.mem))))
	if total > n {
		// The room after the frames is free while nothing was placed
		// since: claim it for the tail.
		if c != a.cur || a.prevEnd != off+n || off+total > len(c.mem) {
			return nil, nil
		}
		t := c.mem[off+n : off+total : off+total]
		rest := t
		for _, b := range data[i:] {
			rest = rest[copy(rest, b.ReadOnlyData()):]
		}
		a.prevEnd = off + total
		c.out++
		tail = a.handle(t)
	}
	a.views++
	return c.mem[off : off+total : off+total], tail
}

// alignTo moves where buffers start so that p, in a message placed as the
// last one was, would have been aligned: the next message with the same
// layout has it aligned.
func (a *frameArena) alignTo(p unsafe.Pointer) {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.phase = (a.phase - uintptr(p)) & (alignment - 1)
	a.mu.Unlock()
}
