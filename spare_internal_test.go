package carton

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/carton-run/carton/tensor"
)

func TestMapPoolBoundsAndDrop(t *testing.T) {
	var s mapPool
	assert.Nil(t, s.take())
	maps := make([]map[string]tensor.Tensor, maxSpareMaps+3)
	for i := range maps {
		maps[i] = map[string]tensor.Tensor{}
		s.put(lentEntry(maps[i]))
		s.put(lentEntry(maps[i])) // another entry, the same map: kept once
	}
	kept := map[*mapObject]bool{}
	for e := s.take(); e != nil; e = s.take() {
		p := e.key.Load()
		assert.False(t, kept[p], "a map came back twice")
		kept[p] = true
	}
	assert.Len(t, kept, 1+maxSpareMaps, "the slot and the list, no more")
	assert.True(t, kept[mapPointer(maps[0])], "the slot keeps the first")
	assert.True(t, kept[mapPointer(maps[len(maps)-1])], "a full list makes room for the newest")
	assert.False(t, kept[mapPointer(maps[1])], "by dropping its oldest")

	s.put(lentEntry(maps[0]))
	s.put(lentEntry(maps[1]))
	s.drop()
	assert.Nil(t, s.take(), "nothing is kept after drop")
}

// A map given back again after the slot emptied is still kept once: it
// waits in the list, which the slot's fast path must not bypass.
func TestMapPoolKeepsOnceAcrossSlotAndList(t *testing.T) {
	var s mapPool
	inSlot, inList := map[string]tensor.Tensor{}, map[string]tensor.Tensor{}
	s.put(lentEntry(inSlot))
	s.put(lentEntry(inList)) // the slot is taken: into the list
	assert.Equal(t, mapPointer(inSlot), s.take().key.Load())
	s.put(lentEntry(inList)) // the slot is free now
	assert.Equal(t, mapPointer(inList), s.take().key.Load())
	assert.Nil(t, s.take(), "kept twice")
}

func TestMapPoolTakeMap(t *testing.T) {
	var s mapPool
	a, b, c := map[string]tensor.Tensor{}, map[string]tensor.Tensor{}, map[string]tensor.Tensor{}
	ea, eb := lentEntry(a), lentEntry(b)
	s.put(ea)
	s.put(eb)
	assert.Nil(t, s.takeMap(mapPointer(c)), "not kept")
	assert.Same(t, eb, s.takeMap(mapPointer(b)), "from the list")
	assert.Nil(t, s.takeMap(mapPointer(b)), "taken already")
	assert.Same(t, ea, s.takeMap(mapPointer(a)), "from the slot")
	assert.Nil(t, s.take(), "nothing left")
}

func lentEntry(m map[string]tensor.Tensor) *spareMap {
	e := &spareMap{}
	e.lend(m)
	return e
}
