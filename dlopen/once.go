package dlopen

import (
	"path/filepath"
	"sync"
)

// OncePerFile opens each library file at most once per process, since
// libraries stay loaded: the result (error included) is remembered by the
// file's absolute, symlink-resolved path, so two spellings of one file share
// it. open runs with the cache locked, so it may read and update state only
// openers touch, such as a one-release-per-process rule. The zero value is
// ready to use.
type OncePerFile[T any] struct {
	mu     sync.Mutex
	byPath map[string]onceResult[T]
}

type onceResult[T any] struct {
	v   T
	err error
}

// Get returns what open(path) returned the first time this file was asked for.
func (c *OncePerFile[T]) Get(path string, open func(path string) (T, error)) (T, error) {
	key, err := filepath.Abs(path)
	if err != nil {
		key = path
	}
	if real, err := filepath.EvalSymlinks(key); err == nil {
		key = real
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.byPath[key]; ok {
		return r.v, r.err
	}
	v, err := open(path)
	if c.byPath == nil {
		c.byPath = map[string]onceResult[T]{}
	}
	c.byPath[key] = onceResult[T]{v, err}
	return v, err
}
