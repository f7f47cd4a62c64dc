package semver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReqMatches(t *testing.T) {
	cases := []struct {
		req   string
		match []string
		miss  []string
	}{
		// bare = caret
		{"1.2", []string{"1.2.0", "1.9.9"}, []string{"1.1.9", "2.0.0", "1.2.0-rc1"}},
		{"1.2.3", []string{"1.2.3", "1.3.0"}, []string{"1.2.2", "2.0.0"}},
		{"0.2.3", []string{"0.2.3", "0.2.9"}, []string{"0.3.0", "0.2.2"}},
		{"0", []string{"0.0.1", "0.9.0"}, []string{"1.0.0"}},
		// caret
		{"^1.2.3", []string{"1.2.3", "1.99.0"}, []string{"2.0.0", "1.2.2"}},
		{"^0.2.3", []string{"0.2.3", "0.2.4"}, []string{"0.3.0"}},
		{"^0.0.3", []string{"0.0.3"}, []string{"0.0.4", "0.0.2"}},
		{"^0.0", []string{"0.0.0", "0.0.9"}, []string{"0.1.0"}},
		{"^2", []string{"2.0.0", "2.5.1"}, []string{"1.13.1", "3.0.0"}},
		// exact, partial exact
		{"=2.0", []string{"2.0.0", "2.0.7"}, []string{"2.1.0", "1.9.9"}},
		{"=1.13", []string{"1.13.1"}, []string{"2.1.0", "1.12.0"}},
		{"=1.12.1", []string{"1.12.1"}, []string{"1.12.2", "1.12.0"}},
		{"=3.11", []string{"3.11.0", "3.11.7"}, []string{"3.12.0"}},
		{"=1", []string{"1.0.0", "1.9.0"}, []string{"2.0.0"}},
		// tilde
		{"~1.2.3", []string{"1.2.3", "1.2.9"}, []string{"1.3.0", "1.2.2"}},
		{"~1.2", []string{"1.2.0", "1.2.9"}, []string{"1.3.0"}},
		{"~1", []string{"1.0.0", "1.9.0"}, []string{"2.0.0", "0.9.0"}},
		// comparisons
		{">1.2.3", []string{"1.2.4", "2.0.0"}, []string{"1.2.3"}},
		{">1.2", []string{"1.3.0"}, []string{"1.2.9", "1.2.0"}},
		{">1", []string{"2.0.0"}, []string{"1.9.9"}},
		{">=1.2", []string{"1.2.0", "5.0.0"}, []string{"1.1.9"}},
		{"<1.2", []string{"1.1.9"}, []string{"1.2.0"}},
		{"<1.2.3", []string{"1.2.2"}, []string{"1.2.3"}},
		{"<=1.2", []string{"1.2.9", "1.0.0"}, []string{"1.3.0"}},
		{"<=1.2.3", []string{"1.2.3"}, []string{"1.2.4"}},
		// AND
		{">=1.2, <1.5", []string{"1.2.0", "1.4.9"}, []string{"1.5.0", "1.1.0"}},
		{">= 1.2 , < 2", []string{"1.9.0"}, []string{"2.0.0"}},
		// wildcards
		{"*", []string{"0.0.1", "99.0.0"}, []string{"1.0.0-alpha"}},
		{"1.*", []string{"1.0.0", "1.7.3"}, []string{"2.0.0"}},
		{"1.2.*", []string{"1.2.0", "1.2.5"}, []string{"1.3.0"}},
		{"1.x", []string{"1.3.0"}, []string{"0.3.0"}},
		{"=1.2.*", []string{"1.2.3"}, []string{"1.3.0"}},
		// pre-releases
		{">=1.2.3-alpha", []string{"1.2.3-beta", "1.2.3", "1.5.0"}, []string{"1.2.4-beta"}},
		{"=1.0.0-rc.1", []string{"1.0.0-rc.1"}, []string{"1.0.0-rc.2", "1.0.0"}},
		// build metadata is ignored
		{"=2.1.0", []string{"2.1.0+cpu"}, nil},
	}
	for _, c := range cases {
		r, err := ParseReq(c.req)
		if err != nil {
			t.Fatalf("ParseReq(%q): %v", c.req, err)
		}
		for _, v := range c.match {
			if !r.Matches(MustParse(v)) {
				t.Errorf("%q should match %s", c.req, v)
			}
		}
		for _, v := range c.miss {
			if r.Matches(MustParse(v)) {
				t.Errorf("%q should not match %s", c.req, v)
			}
		}
	}
}

func TestParseReqErrors(t *testing.T) {
	for _, s := range []string{"", " ", "abc", "1.2.3.4", ">=", "1.*.3", ">1.*", "1.2 1.3", "01.2", "1.2.3-", ">=1.0,", "^*-pre", "1.2-pre"} {
		if _, err := ParseReq(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseReq(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

func TestParseVersion(t *testing.T) {
	v := MustParse("2.1.0+cpu")
	if v.Major != 2 || v.Minor != 1 || v.Patch != 0 || v.Build != "cpu" {
		t.Fatalf("got %+v", v)
	}
	if MustParse("1.13").String() != "1.13.0" {
		t.Fatal("short versions complete with zeros")
	}
	for _, s := range []string{"", "1..2", "a.b.c", "1.2.3.4", "1.2.3-"} {
		if _, err := Parse(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", s, err)
		}
	}
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "2.0.0"}
	for i := 1; i < len(order); i++ {
		if MustParse(order[i-1]).Compare(MustParse(order[i])) != -1 || MustParse(order[i]).Compare(MustParse(order[i-1])) != 1 {
			t.Errorf("%s should sort before %s", order[i-1], order[i])
		}
	}
}

func TestParsePin(t *testing.T) {
	v := MustParse
	cases := []struct {
		pin     string
		yes, no []string
		exact   bool
	}{
		{"", []string{"0.1.0", "2.15.0"}, nil, false},
		{"2.15.0", []string{"2.15.0", "2.15.0+cu132"}, []string{"2.15.1", "2.14.0"}, true},
		{"1.13", []string{"1.13.0", "1.13.1"}, []string{"1.14.0", "1.12.9"}, false},
		{"2", []string{"2.0.0", "2.15.0"}, []string{"3.0.0", "1.13.1"}, false},
		{"^2", []string{"2.1.0"}, []string{"1.13.1", "3.0.0"}, false},
		{">=1.13, <2", []string{"1.13.1"}, []string{"2.1.0", "1.12.0"}, false},
		{"=1.13", []string{"1.13.1"}, []string{"1.14.0"}, false},
	}
	for _, c := range cases {
		p, err := ParsePin(c.pin)
		require.NoError(t, err, c.pin)
		assert.Equal(t, c.exact, p.Exact(), c.pin)
		assert.Equal(t, c.pin, p.String())
		for _, s := range c.yes {
			assert.True(t, p.Matches(v(s)), "%q should match %s", c.pin, s)
		}
		for _, s := range c.no {
			assert.False(t, p.Matches(v(s)), "%q should not match %s", c.pin, s)
		}
	}
	for _, bad := range []string{"latest", "^", "1.x.y", ">= two"} {
		_, err := ParsePin(bad)
		assert.ErrorIs(t, err, ErrInvalid, bad)
	}
}
