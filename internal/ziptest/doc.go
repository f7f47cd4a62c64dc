// Package ziptest rewrites zip files for tests that tamper with a carton:
// one entry's bytes replaced, everything else (MANIFEST included) copied
// as it was. It allocates what it returns; nothing is shared.
package ziptest
