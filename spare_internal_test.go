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
