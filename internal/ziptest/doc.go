// Package ziptest rewrites zip files for tests that tamper with a carton:
// entries replaced, removed or added, everything else (MANIFEST included)
// copied as it was. It allocates what it returns; nothing is shared.
package ziptest
