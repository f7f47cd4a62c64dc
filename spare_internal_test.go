package carton

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/carton-run/carton/tensor"
)

func TestSpareMapsBoundsAndDrop(t *testing.T) {
	var s spareMaps
	assert.Nil(t, s.take())
	maps := make([]map[string]tensor.Tensor, maxSpareMaps+3)
	for i := range maps {
		maps[i] = map[string]tensor.Tensor{}
		s.put(maps[i])
		s.put(maps[i]) // kept once
	}
	kept := map[*mapObject]bool{}
	for m := s.take(); m != nil; m = s.take() {
		p := mapPointer(m)
		assert.False(t, kept[p], "a map came back twice")
		kept[p] = true
	}
	assert.Len(t, kept, 1+maxSpareMaps, "the slot and the list, no more")

	s.put(maps[0])
	s.put(maps[1])
	s.drop()
	assert.Nil(t, s.take(), "nothing is kept after drop")
}

// A map given back again after the slot emptied is still kept once: it
// waits in the list, which the slot's fast path must not bypass.
func TestSpareMapsKeepOnceAcrossSlotAndList(t *testing.T) {
	var s spareMaps
	inSlot, inList := map[string]tensor.Tensor{}, map[string]tensor.Tensor{}
	s.put(inSlot)
	s.put(inList) // the slot is taken: into the list
	assert.Equal(t, mapPointer(inSlot), mapPointer(s.take()))
	s.put(inList) // the slot is free now
	assert.Equal(t, mapPointer(inList), mapPointer(s.take()))
	assert.Nil(t, s.take(), "kept twice")
}
