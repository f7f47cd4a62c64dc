package semver

import (
	"fmt"
)

// Pin is what a caller asks of a runtime's version on top of a carton's
// requirement: one exact version ("2.15.0"), every patch of a release
// ("1.13", as "=1.13") or a requirement with an operator ("^2",
// ">=1.13, <2"). The zero Pin accepts anything.
type Pin struct {
	exact *Version
	req   *Req
	text  string
}

// ParsePin reads s as an exact version if it has three numbers, as "="
// and s if it has fewer, else as a requirement; "" is the zero Pin.
func ParsePin(s string) (Pin, error) {
	if s == "" {
		return Pin{}, nil
	}
	orig := s
	if v, numbers, err := parse(s); err == nil {
		if numbers == 3 {
			return Pin{exact: &v, text: s}, nil
		}
		s = "=" + s // "1.13" is every 1.13.x, as Cargo's =1.13
	}
	r, err := ParseReq(s)
	if err != nil {
		return Pin{}, fmt.Errorf("%w: %q is neither a version nor a requirement", ErrInvalid, orig)
	}
	return Pin{req: &r, text: orig}, nil
}

// Matches says whether v is the pinned version (build metadata aside, as
// Compare) or satisfies the pinned requirement.
func (p Pin) Matches(v Version) bool {
	switch {
	case p.exact != nil:
		return v.Compare(*p.exact) == 0
	case p.req != nil:
		return p.req.Matches(v)
	}
	return true
}

// Exact says whether the pin names one version.
func (p Pin) Exact() bool { return p.exact != nil }

func (p Pin) String() string { return p.text }
