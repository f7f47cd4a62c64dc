package semver

import (
	"fmt"
	"strings"
)

type op uint8

const (
	opExact op = iota
	opGreater
	opGreaterEq
	opLess
	opLessEq
	opTilde
	opCaret
	opWildcard
)

// comparator is one clause of a requirement; minor/patch may be absent.
type comparator struct {
	op                  op
	major, minor, patch uint64
	hasMinor, hasPatch  bool
	pre                 string
}

// Req is a parsed version requirement; all comparators must match.
type Req struct {
	text  string
	comps []comparator
}

// ParseReq parses a Cargo-style requirement such as "=1.13", "^2", ">=1.2, <2".
func ParseReq(s string) (Req, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return Req{}, fmt.Errorf("%w: empty version requirement", ErrInvalid)
	}
	r := Req{text: text}
	for _, part := range strings.Split(text, ",") {
		c, err := parseComparator(strings.TrimSpace(part))
		if err != nil {
			return Req{}, fmt.Errorf("%w: requirement %q: %v", ErrInvalid, s, err)
		}
		r.comps = append(r.comps, c)
	}
	return r, nil
}

func (r Req) String() string { return r.text }

func parseComparator(s string) (comparator, error) {
	if s == "" {
		return comparator{}, fmt.Errorf("empty comparator")
	}
	c := comparator{op: opCaret}
	for _, p := range []struct {
		prefix string
		op     op
	}{{">=", opGreaterEq}, {"<=", opLessEq}, {">", opGreater}, {"<", opLess}, {"=", opExact}, {"~", opTilde}, {"^", opCaret}} {
		if strings.HasPrefix(s, p.prefix) {
			c.op, s = p.op, strings.TrimSpace(s[len(p.prefix):])
			break
		}
	}
	explicitOp := c.op != opCaret || strings.HasPrefix(s, "^")
	if s == "" {
		return comparator{}, fmt.Errorf("operator without a version")
	}
	if strings.ContainsAny(s, " \t") {
		return comparator{}, fmt.Errorf("unexpected space in %q (separate comparators with commas)", s)
	}
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i] // build metadata never matters
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		c.pre, s = s[i+1:], s[:i]
		if c.pre == "" {
			return comparator{}, fmt.Errorf("empty pre-release")
		}
	}
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return comparator{}, fmt.Errorf("%q has more than three parts", s)
	}
	wild := false
	for i, p := range parts {
		if p == "*" || p == "x" || p == "X" {
			wild = true
			continue
		}
		if wild {
			return comparator{}, fmt.Errorf("%q: a number after a wildcard", s)
		}
		n, err := parseNumber(p)
		if err != nil {
			return comparator{}, err
		}
		switch i {
		case 0:
			c.major = n
		case 1:
			c.minor, c.hasMinor = n, true
		case 2:
			c.patch, c.hasPatch = n, true
		}
	}
	if wild {
		if c.pre != "" {
			return comparator{}, fmt.Errorf("pre-release on a wildcard")
		}
		if parts[0] == "*" || parts[0] == "x" || parts[0] == "X" {
			if explicitOp && c.op != opExact && c.op != opCaret && c.op != opTilde {
				return comparator{}, fmt.Errorf("%q: a comparison with a full wildcard", s)
			}
			return comparator{op: opWildcard}, nil
		}
		if explicitOp && c.op != opExact && c.op != opCaret && c.op != opTilde {
			return comparator{}, fmt.Errorf("%q: a comparison with a wildcard", s)
		}
		c.op = opWildcard
	}
	if c.pre != "" && !c.hasPatch {
		return comparator{}, fmt.Errorf("pre-release needs a full MAJOR.MINOR.PATCH")
	}
	return c, nil
}

// Matches reports whether v satisfies every comparator.
func (r Req) Matches(v Version) bool {
	for _, c := range r.comps {
		if !c.matches(v) {
			return false
		}
	}
	if v.Pre == "" {
		return true
	}
	// A pre-release matches only when a comparator names its exact
	// major.minor.patch with a pre-release of its own (Cargo's rule).
	for _, c := range r.comps {
		if c.pre != "" && c.major == v.Major && c.minor == v.Minor && c.patch == v.Patch {
			return true
		}
	}
	return false
}

func (c comparator) lower() Version {
	return Version{Major: c.major, Minor: c.minor, Patch: c.patch, Pre: c.pre}
}

func (c comparator) matches(v Version) bool {
	lo := c.lower()
	switch c.op {
	case opWildcard:
		if c == (comparator{op: opWildcard}) {
			return true
		}
		return c.prefixMatches(v)
	case opExact:
		if !c.hasPatch {
			return c.prefixMatches(v)
		}
		return v.Compare(lo) == 0
	case opGreater:
		if !c.hasPatch {
			return !c.prefixMatches(v) && v.Compare(lo) > 0
		}
		return v.Compare(lo) > 0
	case opGreaterEq:
		return v.Compare(lo) >= 0
	case opLess:
		return v.Compare(lo) < 0
	case opLessEq:
		if !c.hasPatch {
			return c.prefixMatches(v) || v.Compare(lo) < 0
		}
		return v.Compare(lo) <= 0
	case opTilde:
		if v.Compare(lo) < 0 || v.Major != c.major {
			return false
		}
		return !c.hasMinor || v.Minor == c.minor
	case opCaret:
		if v.Compare(lo) < 0 || v.Major != c.major {
			return false
		}
		switch {
		case c.major > 0 || !c.hasMinor:
			return true
		case c.minor > 0 || !c.hasPatch:
			return v.Minor == c.minor
		default:
			return v.Minor == c.minor && v.Patch == c.patch
		}
	}
	return false
}

// prefixMatches reports whether v agrees with every part c names.
func (c comparator) prefixMatches(v Version) bool {
	return v.Major == c.major && (!c.hasMinor || v.Minor == c.minor) && (!c.hasPatch || v.Patch == c.patch)
}
