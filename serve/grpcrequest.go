package serve

import (
	"fmt"
	"unsafe"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/carton-run/carton/serve/internal/oippb"
)

// rawInputContentsField is raw_input_contents' field number in
// ModelInferRequest (oip.proto).
const rawInputContentsField = 7

// unmarshalInferRequest decodes a ModelInferRequest whose
// raw_input_contents are views of one copy of the message, placed so that
// the first starts 64-byte aligned (the others start wherever the message
// puts them, after each one's tag and length; one misaligned for its dtype
// is copied once more, by grpcInputs). gRPC's own codec copies the message out of its
// frames into a pooled buffer it clears first, then proto.Unmarshal copies
// each raw input out of that: three passes over a large tensor, here one.
func unmarshalInferRequest(data mem.BufferSlice, req *oippb.ModelInferRequest) error {
	return decodeInferRequest(data, req, make([]byte, data.Len()+alignment))
}

// pooledInferRequest is a ModelInferRequest decoded as unmarshalInferRequest
// does, into a pooled buffer that release gives back, or, where its frames
// lie one after another in a frameArena, with the raw inputs as views of
// the frames, which release frees: only once nothing reads the request any
// more.
type pooledInferRequest struct {
	req    oippb.ModelInferRequest
	pooled *[]byte
	frames mem.BufferSlice
	arena  *frameArena
	tail   *[]byte // the message's end, copied into arena after the frames
}

func (p *pooledInferRequest) decode(data mem.BufferSlice, arena *frameArena) error {
	if msg, tail := arena.view(data); msg != nil {
		p.arena, p.tail = arena, tail
		if err := parseInferRequest(msg, &p.req); err != nil {
			return err
		}
		if raw := p.req.RawInputContents; len(raw) > 0 && len(raw[0]) > 0 {
			if first := unsafe.Pointer(unsafe.SliceData(raw[0])); uintptr(first)%alignment != 0 {
				arena.alignTo(first)
			}
		}
		data.Ref() // gRPC frees data once this returns; release frees it again
		p.frames = data
		return nil
	}
	var buf []byte
	buf, p.pooled = getBuffer(data.Len() + alignment)
	return decodeInferRequest(data, &p.req, buf)
}

func (p *pooledInferRequest) release() {
	putBuffer(p.pooled)
	if p.frames != nil {
		p.frames.Free()
	}
	if p.tail != nil {
		p.arena.Put(p.tail)
	}
}

// decodeInferRequest is unmarshalInferRequest with buf, of the message's
// length and alignment more, to copy the message into.
func decodeInferRequest(data mem.BufferSlice, req *oippb.ModelInferRequest, buf []byte) error {
	n := data.Len()
	first, _ := rawContentsOffset(messageStart(data, min(n, 4096)))
	pad := int(-(uintptr(unsafe.Pointer(&buf[0])) + uintptr(first)) & (alignment - 1))
	msg := buf[pad : pad+n : pad+n]
	data.CopyTo(msg)
	return parseInferRequest(msg, req)
}

// parseInferRequest decodes msg into req, with the raw inputs as views of
// msg. Everything but the raw inputs is small: proto.Unmarshal decodes it
// from a copy without them.
func parseInferRequest(msg []byte, req *oippb.ModelInferRequest) error {
	var rest []byte
	var raw [][]byte
	for b := msg; len(b) > 0; {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return fmt.Errorf("ModelInferRequest: %w", protowire.ParseError(tagLen))
		}
		if num == rawInputContentsField && typ == protowire.BytesType {
			v, vLen := protowire.ConsumeBytes(b[tagLen:])
			if vLen < 0 {
				return fmt.Errorf("ModelInferRequest raw_input_contents: %w", protowire.ParseError(vLen))
			}
			raw = append(raw, v[:len(v):len(v)])
			b = b[tagLen+vLen:]
			continue
		}
		fieldLen := protowire.ConsumeFieldValue(num, typ, b[tagLen:])
		if fieldLen < 0 {
			return fmt.Errorf("ModelInferRequest field %d: %w", num, protowire.ParseError(fieldLen))
		}
		rest = append(rest, b[:tagLen+fieldLen]...)
		b = b[tagLen+fieldLen:]
	}
	if err := proto.Unmarshal(rest, req); err != nil {
		return err
	}
	req.RawInputContents = raw
	return nil
}

// messageStart is the message's first n bytes (where the raw inputs
// start, usually): the first buffer's own when it holds them, as it does
// unless gRPC's frames split the message early.
func messageStart(data mem.BufferSlice, n int) []byte {
	if len(data) > 0 {
		if first := data[0].ReadOnlyData(); len(first) >= n {
			return first[:n]
		}
	}
	head := make([]byte, n)
	data.CopyTo(head)
	return head
}

// rawContentsOffset is where, in the start of a ModelInferRequest, the
// first raw_input_contents' bytes begin, if they begin there.
func rawContentsOffset(b []byte) (int, bool) {
	for off := 0; off < len(b); {
		num, typ, tagLen := protowire.ConsumeTag(b[off:])
		if tagLen < 0 {
			return 0, false
		}
		if num == rawInputContentsField && typ == protowire.BytesType {
			_, lenLen := protowire.ConsumeVarint(b[off+tagLen:])
			if lenLen < 0 {
				return 0, false
			}
			return off + tagLen + lenLen, true
		}
		fieldLen := protowire.ConsumeFieldValue(num, typ, b[off+tagLen:])
		if fieldLen < 0 {
			return 0, false
		}
		off += tagLen + fieldLen
	}
	return 0, false
}
