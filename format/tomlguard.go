package format

import "fmt"

// checkTOML bounds what parsing an untrusted TOML document may cost before
// it reaches the decoder, whose time and memory grow with the square of
// the nesting depth: a 64 KB carton.toml of nested inline tables took it
// over a minute and tens of GB. It refuses, with ErrLimit naming the file
// and the limit, a document over lim.MaxMetadataBytes, nested deeper than
// lim.MaxNesting (arrays, inline tables, and the parts of dotted keys and
// table headers, together), or holding more than lim.MaxMetadataValues
// keys and array elements. It does not validate TOML: it scans strings,
// comments and brackets as TOML does, and leaves the rest to the decoder.
func checkTOML(name string, data []byte, lim Limits) error {
	if int64(len(data)) > lim.MaxMetadataBytes {
		return limitErr(name, "%d bytes, more than the %d a metadata file may hold", len(data), lim.MaxMetadataBytes)
	}
	g := tomlGuard{data: data, keyCtx: true}
	if err := g.scan(lim); err != nil {
		return &FileError{Path: name, Err: err}
	}
	return nil
}

func limitErr(name, format string, args ...any) error {
	return &FileError{Path: name, Err: fmt.Errorf("%w: "+format, append([]any{ErrLimit}, args...)...)}
}

type tomlGuard struct {
	data       []byte
	i          int
	stack      []frame // open arrays and inline tables
	stackDots  int     // the dots of the keys owning them, together
	keyCtx     bool    // reading a key (or a table header): its dots nest
	dots       int     // dots in the key being read, or in the last key read
	headerDots int     // dots in the last table header, under which keys nest
	inHeader   bool
	values     int
}

// frame is an open array ('[') or inline table ('{'), with the dots of
// the key whose value it is.
type frame struct {
	kind byte
	dots int
}

func (g *tomlGuard) push(kind byte) {
	d := 0
	if n := len(g.stack); n == 0 || g.stack[n-1].kind == '{' {
		d = g.dots // a key's value; an array's elements have no key
	}
	g.stack = append(g.stack, frame{kind, d})
	g.stackDots += d
	g.dots = 0
}

func (g *tomlGuard) pop() {
	if n := len(g.stack); n > 0 {
		g.stackDots -= g.stack[n-1].dots
		g.stack = g.stack[:n-1]
	}
	g.dots = 0
}

func (g *tomlGuard) inTable() bool { return len(g.stack) > 0 && g.stack[len(g.stack)-1].kind == '{' }

func (g *tomlGuard) scan(lim Limits) error {
	for g.i < len(g.data) {
		c := g.data[g.i]
		switch {
		case c == '#':
			g.skipLine()
			continue
		case c == '"' || c == '\'':
			g.skipString()
			continue
		case c == '\n':
			if len(g.stack) == 0 {
				g.keyCtx, g.dots, g.inHeader = true, 0, false
			}
		case g.keyCtx && c == '.':
			g.dots++
			g.values++ // each part of a dotted key is a table
		case g.keyCtx && c == '[' && len(g.stack) == 0:
			// A table header: the keys under it nest below its name.
			g.dots, g.headerDots, g.inHeader = 0, 0, true
			g.values++
		case g.keyCtx && c == ']' && len(g.stack) == 0:
			if g.inHeader {
				g.headerDots, g.dots, g.inHeader = g.dots+1, 0, false
			}
			g.keyCtx = false
		case c == '=':
			g.keyCtx = false
			g.values++
		case !g.keyCtx && (c == '[' || c == '{'):
			g.push(c)
			g.keyCtx = c == '{'
			g.values++
		case c == ']' || c == '}':
			g.pop()
			g.keyCtx = false
		case c == ',':
			g.values++
			g.keyCtx = g.inTable()
			g.dots = 0
		}
		if depth := g.headerDots + g.stackDots + len(g.stack) + g.dots; depth > lim.MaxNesting {
			return fmt.Errorf("%w: nested %d deep at byte %d, more than the %d allowed", ErrLimit, depth, g.i, lim.MaxNesting)
		}
		if g.values > lim.MaxMetadataValues {
			return fmt.Errorf("%w: more than %d keys and array elements", ErrLimit, lim.MaxMetadataValues)
		}
		g.i++
	}
	return nil
}

func (g *tomlGuard) skipLine() {
	for g.i < len(g.data) && g.data[g.i] != '\n' {
		g.i++
	}
}

// skipString moves past a basic or literal string, single- or multi-line.
// An unterminated one runs to the end (the decoder reports it).
func (g *tomlGuard) skipString() {
	q := g.data[g.i]
	multi := g.i+2 < len(g.data) && g.data[g.i+1] == q && g.data[g.i+2] == q
	if multi {
		g.i += 3
	} else {
		g.i++
	}
	for g.i < len(g.data) {
		c := g.data[g.i]
		switch {
		case c == '\\' && q == '"':
			g.i += 2
			continue
		case c == '\n' && !multi:
			return // the decoder refuses it; the newline is scanned as one
		case c == q:
			if !multi {
				g.i++
				return
			}
			if g.i+2 < len(g.data) && g.data[g.i+1] == q && g.data[g.i+2] == q {
				g.i += 3
				// Up to two more quotes may close it ("""a"""" is a" + "").
				for k := 0; k < 2 && g.i < len(g.data) && g.data[g.i] == q; k++ {
					g.i++
				}
				return
			}
		}
		g.i++
	}
}
