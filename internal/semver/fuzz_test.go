package semver

import "testing"

func FuzzParse(f *testing.F) {
	for _, s := range []string{"1.13.1", "v2.1", "2.0.0-rc.1+cu130", "0", "1.2.3-alpha.10.beta", "01.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(v.String())
		if err != nil {
			t.Fatalf("%q parsed to %q, which does not parse: %v", s, v, err)
		}
		if again != v {
			t.Fatalf("%q parsed to %#v, its String %q to %#v", s, v, v.String(), again)
		}
		if v.Compare(again) != 0 {
			t.Fatalf("%q does not compare equal to itself", v)
		}
	})
}

func FuzzParseReq(f *testing.F) {
	for _, s := range []string{"=1.13", "^2", ">=1.2, <2", "*", "1.*", "1.2.x", "~1.2.3", "^0.2.3-rc.1"} {
		f.Add(s, "1.13.1")
	}
	f.Fuzz(func(t *testing.T, req, version string) {
		r, err := ParseReq(req)
		if err != nil {
			return
		}
		again, err := ParseReq(r.String())
		if err != nil {
			t.Fatalf("%q parsed, its String %q does not: %v", req, r, err)
		}
		v, err := Parse(version)
		if err != nil {
			return
		}
		if r.Matches(v) != again.Matches(v) {
			t.Fatalf("%q and its String %q disagree on %q", req, r, v)
		}
	})
}
