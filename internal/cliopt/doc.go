// Package cliopt reads runner option values written on a command line
// (--opt KEY=VALUE) the one way every carton command reads them. It holds
// no state; its functions are safe for concurrent use.
package cliopt
