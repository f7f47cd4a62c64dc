package semver

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid version")

// Version is a semantic version. Build metadata is kept for display only.
type Version struct {
	Major, Minor, Patch uint64
	Pre                 string // dot-separated pre-release identifiers, "" if none
	Build               string
}

// Parse parses "MAJOR.MINOR.PATCH[-PRE][+BUILD]". Framework version strings
// with fewer parts ("2.1") are completed with zeros, since frameworks report
// versions that way; a leading "v" is accepted.
func Parse(s string) (Version, error) {
	v, _, err := parse(s)
	return v, err
}

// parse is Parse, also saying how many numbers s gave (1 to 3).
func parse(s string) (Version, int, error) {
	orig := s
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	var v Version
	if i := strings.IndexByte(s, '+'); i >= 0 {
		v.Build, s = s[i+1:], s[:i]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		v.Pre, s = s[i+1:], s[:i]
		if v.Pre == "" {
			return Version{}, 0, fmt.Errorf("%w: %q: empty pre-release", ErrInvalid, orig)
		}
	}
	parts := strings.Split(s, ".")
	if len(parts) > 3 || s == "" {
		return Version{}, 0, fmt.Errorf("%w: %q is not MAJOR.MINOR.PATCH", ErrInvalid, orig)
	}
	nums := [3]uint64{}
	for i, p := range parts {
		n, err := parseNumber(p)
		if err != nil {
			return Version{}, 0, fmt.Errorf("%w: %q: %v", ErrInvalid, orig, err)
		}
		nums[i] = n
	}
	v.Major, v.Minor, v.Patch = nums[0], nums[1], nums[2]
	return v, len(parts), nil
}

func parseNumber(p string) (uint64, error) {
	if p == "" {
		return 0, errors.New("empty number")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", p)
		}
	}
	if len(p) > 1 && p[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero", p)
	}
	return strconv.ParseUint(p, 10, 64)
}

// MustParse is Parse for constants in code; it panics on error.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// Compare returns -1, 0 or 1; build metadata is ignored, and a pre-release
// sorts before its release, identifiers compared as in SemVer 2.0.
func (v Version) Compare(o Version) int {
	for _, d := range [3][2]uint64{{v.Major, o.Major}, {v.Minor, o.Minor}, {v.Patch, o.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	return comparePre(v.Pre, o.Pre)
}

func comparePre(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		an, aErr := strconv.ParseUint(as[i], 10, 64)
		bn, bErr := strconv.ParseUint(bs[i], 10, 64)
		switch {
		case aErr == nil && bErr == nil:
			if an != bn {
				if an < bn {
					return -1
				}
				return 1
			}
		case aErr == nil:
			return -1
		case bErr == nil:
			return 1
		default:
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(as) < len(bs):
		return -1
	case len(as) > len(bs):
		return 1
	}
	return 0
}
