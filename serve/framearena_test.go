package serve

import (
	"bytes"
	"math/rand/v2"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/carton-run/carton/serve/internal/oippb"
)

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// arenaFrames places msg in a as gRPC's transport does: a buffer from the
// pool per frame of size, filled and wrapped; a short last frame (under
// 1 KiB) is made, not pooled, as gRPC makes it.
func arenaFrames(a *frameArena, msg []byte, size int) mem.BufferSlice {
	var out mem.BufferSlice
	for len(msg) > 0 {
		n := min(size, len(msg))
		if mem.IsBelowBufferPoolingThreshold(n) {
			out = append(out, mem.SliceBuffer(append([]byte(nil), msg[:n]...)))
		} else {
			h := a.Get(n)
			copy(*h, msg[:n])
			out = append(out, mem.NewBuffer(h, a))
		}
		msg = msg[n:]
	}
	return out
}

func TestFrameArenaPlacesFullFramesContiguously(t *testing.T) {
	a := newFrameArena()
	var prev []byte
	for i := range 10 {
		b := *a.Get(16 << 10)
		assert.Zero(t, addr(b)%alignment)
		if i > 0 {
			assert.Equal(t, addr(prev)+uintptr(len(prev)), addr(b), "frame %d follows frame %d", i, i-1)
		}
		prev = b
	}
	short := *a.Get(1000) // a message's last frame: the next run starts aligned
	assert.Equal(t, addr(prev)+uintptr(len(prev)), addr(short))
	next := *a.Get(16 << 10)
	assert.Zero(t, addr(next)%alignment)
	assert.Greater(t, addr(next), addr(short)+uintptr(len(short)))
}

func TestFrameArenaViewsAMessageInPlace(t *testing.T) {
	want := &oippb.ModelInferRequest{ModelName: "m", Inputs: []*oippb.ModelInferRequest_InferInputTensor{{Name: "a", Datatype: "FP32", Shape: []int64{1 << 16}}},
		RawInputContents: [][]byte{numbered(1<<16, 7<<24)}}
	msg, err := proto.Marshal(want)
	require.NoError(t, err)
	a := newFrameArena()
	a.phase = uintptr(1-(len(msg)-4<<16)) & (alignment - 1) // the first message's raw input one byte off
	for round := range 3 {
		data := arenaFrames(a, msg, 16<<10)
		var p pooledInferRequest
		require.NoError(t, p.decode(data, a))
		assert.True(t, proto.Equal(want, &p.req))
		require.Nil(t, p.pooled, "round %d: not copied", round)
		require.NotNil(t, p.tail, "the short last frame is copied in after the others")
		start := addr(data[0].ReadOnlyData())
		raw := p.req.RawInputContents[0]
		assert.True(t, addr(raw) > start && addr(raw)+uintptr(len(raw)) == addr(*p.tail)+uintptr(len(*p.tail)), "the raw input is a view of the frames and the tail after them")
		if round == 0 {
			assert.Equal(t, uintptr(1), addr(raw)%alignment)
		} else {
			assert.Zero(t, addr(raw)%alignment, "after the first message, one laid out alike starts aligned")
		}
		p.release()
		data.Free()
		for _, c := range a.chunks {
			require.Zero(t, c.out, "round %d: released, the message holds no buffer of the arena", round)
		}
	}
}

func TestFrameArenaCopiesWhatIsNotInPlace(t *testing.T) {
	msg := bytes.Repeat([]byte{1, 2, 3, 4}, (3<<14+500)/4) // three full frames and a short one
	a := newFrameArena()

	other := newFrameArena() // frames of another pool
	data := arenaFrames(other, msg, 16<<10)
	v, _ := a.view(data)
	assert.True(t, v == nil)
	data.Free()

	data = arenaFrames(a, msg, 16<<10-1) // frames that end off phase
	v, _ = a.view(data)
	assert.True(t, v == nil)
	data.Free()

	data = arenaFrames(a, msg, 16<<10)
	h := a.Get(4 << 10) // another stream's frame arrives before the message is decoded
	v, _ = a.view(data)
	assert.True(t, v == nil, "the room after the frames is taken: the short last frame cannot follow them")
	a.Put(h)
	data.Free()

	data = append(arenaFrames(a, msg, 16<<10), mem.SliceBuffer(make([]byte, maxArenaTail+1)))
	v, _ = a.view(data)
	assert.True(t, v == nil, "too long an end to copy in")
	data.Free()

	var p pooledInferRequest // the copy decodes as before
	want := &oippb.ModelInferRequest{ModelName: "m", RawInputContents: [][]byte{msg}}
	enc, _ := proto.Marshal(want)
	data = arenaFrames(other, enc, 16<<10)
	require.NoError(t, p.decode(data, a))
	assert.True(t, proto.Equal(want, &p.req))
	assert.NotNil(t, p.pooled)
	p.release()
	data.Free()
}

func TestFrameArenaReusesChunksAndStaysWithinItsCap(t *testing.T) {
	a := newFrameArena()
	var held []*[]byte
	for range (maxArenaBytes / (16 << 10)) + 100 {
		held = append(held, a.Get(16<<10))
	}
	assert.LessOrEqual(t, a.inUse, maxArenaBytes)
	last := held[len(held)-1]
	assert.Nil(t, a.chunkOf(addr(*last), len(*last)), "past the cap, buffers come from gRPC's pool")
	for _, h := range held {
		a.Put(h) // the default pool's go back there
	}
	assert.Zero(t, a.inUse, "every chunk is back once its buffers are")
	assert.Empty(t, a.chunks)

	// One buffer held keeps its chunk, and only it, after the chunk is full.
	keep := a.Get(1 << 10)
	for range 2 * arenaChunkBytes / (16 << 10) {
		a.Put(a.Get(16 << 10))
	}
	assert.Equal(t, 2*arenaChunkBytes, a.inUse)
	a.Put(keep)
	assert.Equal(t, arenaChunkBytes, a.inUse)

	for _, n := range []int{0, -1, maxArenaBuffer + 1} {
		h := a.Get(max(n, 0))
		assert.Nil(t, a.chunkOf(addr(*h), len(*h)), "Get(%d) is not the arena's", n)
		a.Put(h)
	}
	foreign := make([]byte, 100)
	a.Put(&foreign) // not the arena's: to the default pool, no harm
}

func TestFrameArenaStartsARunWhereTheLastOneFits(t *testing.T) {
	a := newFrameArena()
	var firsts []*[]byte // held, so that no chunk is reused
	defer func() {
		for _, h := range firsts {
			a.Put(h)
		}
	}()
	run := func(n int) uintptr {
		first := a.Get(16 << 10)
		for range n - 1 {
			a.Put(a.Get(16 << 10))
		}
		a.Put(a.Get(2000))
		firsts = append(firsts, first)
		return addr(*first)
	}
	const frames = 64 // about 1 MiB a message
	var chunks []uintptr
	for range 3 * arenaChunkBytes / (frames * 16 << 10) {
		start := run(frames)
		c := a.chunkOf(start, frames*16<<10)
		require.NotNil(t, c, "a message straddles two chunks")
		base := addr(c.mem)
		if len(chunks) == 0 || chunks[len(chunks)-1] != base {
			chunks = append(chunks, base)
		}
	}
	assert.GreaterOrEqual(t, len(chunks), 2)
}

// Concurrent Gets and Puts never hand out overlapping memory.
func TestFrameArenaConcurrentUse(t *testing.T) {
	a := newFrameArena()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var held []*[]byte
			for i := range 3000 {
				h := a.Get(1<<10 + r.IntN(32<<10))
				for j := range *h {
					(*h)[j] = byte(g)
				}
				held = append(held, h)
				if len(held) > 20 || i%7 == 0 {
					k := r.IntN(len(held))
					for _, b := range *held[k] {
						if b != byte(g) {
							t.Errorf("goroutine %d's buffer overwritten", g)
							return
						}
					}
					a.Put(held[k])
					held = append(held[:k], held[k+1:]...)
				}
			}
			for _, h := range held {
				a.Put(h)
			}
		}()
	}
	wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.chunks {
		assert.True(t, c == a.cur || c.out > 0)
		if c == a.cur {
			assert.Zero(t, c.out)
		}
	}
}

// On a NewGRPCServer, large raw inputs are views of the frames they came
// in, and each request still gets its own tensor back.
func TestGRPCRawInputsInPlace(t *testing.T) {
	arena := newFrameArena()
	// Windows large enough for a whole message: HTTP/2 flow control cuts
	// no frame short. (With gRPC's default, growing windows, the first
	// requests of a connection come in frames cut at the window's edge,
	// in no order the arena can keep contiguous: those are copied.)
	client := grpcEcho(t, func(s *Server) *grpc.Server {
		return s.newGRPCServer(arena, grpc.InitialWindowSize(4<<20), grpc.InitialConnWindowSize(4<<20))
	})
	views := func() int {
		arena.mu.Lock()
		defer arena.mu.Unlock()
		return arena.views
	}
	echo := func(r int) {
		raw := numbered(1<<18, uint32(r<<24))
		got, err := echoGRPC(client, raw, 1<<18)
		require.NoError(t, err)
		require.True(t, bytes.Equal(raw, got), "request %d", r)
	}
	for r := range 3 {
		echo(r)
	}
	before := views()
	for r := range 20 {
		echo(r)
	}
	assert.GreaterOrEqual(t, views()-before, 19, "1 MiB requests are taken in place")
}
