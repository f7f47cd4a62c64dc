package serve_test

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
)

// readHTTPResponse is the rawclient protocols' client: the least an HTTP
// client can do, so that a latency measured through it is the server's and
// the kernel's, not a client library's (net/http's client adds 15-17 µs a
// call on the benchmark machine: two goroutine hand-offs, its own header
// parsing). It reads one HTTP/1.1 response with a Content-Length from c
// into buf, and fails on a status other than 200.
func readHTTPResponse(c net.Conn, buf []byte) error {
	n, want := 0, -1
	for want < 0 || n < want {
		if n == len(buf) {
			return fmt.Errorf("response larger than %d bytes", len(buf))
		}
		k, err := c.Read(buf[n:])
		if err != nil {
			return err
		}
		n += k
		if want >= 0 {
			continue
		}
		end := bytes.Index(buf[:n], []byte("\r\n\r\n"))
		if end < 0 {
			continue
		}
		head := buf[:end]
		if !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) {
			return fmt.Errorf("response %q", head)
		}
		i := bytes.Index(head, []byte("Content-Length: "))
		if i < 0 {
			return fmt.Errorf("no Content-Length in %q", head)
		}
		line := head[i+len("Content-Length: "):]
		if j := bytes.IndexByte(line, '\r'); j >= 0 {
			line = line[:j]
		}
		length, err := strconv.Atoi(string(line))
		if err != nil {
			return err
		}
		want = end + 4 + length
	}
	return nil
}
