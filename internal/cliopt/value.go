package cliopt

import "strconv"

// Value is v as a runner option's value: an integer, else a float, else
// true or false, else the string itself.
func Value(v string) any {
	if i, err := strconv.ParseInt(v, 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f
	}
	if v == "true" || v == "false" {
		return v == "true"
	}
	return v
}
