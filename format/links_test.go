package format

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A linked file's body may come compressed in any coding FORMAT.md allows
// that we ask for, "deflate" both as RFC 9110 defines it (zlib) and as
// many servers send it (bare deflate); the bytes checked against MANIFEST
// are the decoded ones. Brotli, which we do not ask for, is refused by name.
func TestLinksContentEncodings(t *testing.T) {
	weights := bytes.Repeat([]byte("weights, compressible "), 500)
	encode := func(mk func(io.Writer) io.WriteCloser) []byte {
		var b bytes.Buffer
		w := mk(&b)
		_, err := w.Write(weights)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		return b.Bytes()
	}
	bodies := map[string][]byte{
		"identity": weights,
		"gzip":     encode(func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }),
		"x-gzip":   encode(func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }),
		"deflate":  encode(func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) }),
		"zstd": encode(func(w io.Writer) io.WriteCloser {
			e, err := zstd.NewWriter(w)
			require.NoError(t, err)
			return e
		}),
	}
	raw := encode(func(w io.Writer) io.WriteCloser { f, _ := flate.NewWriter(w, flate.BestSpeed); return f })
	var asked atomic.Value // the last request's Accept-Encoding
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(r.Header.Get("Accept-Encoding"))
		coding := r.URL.Path[1:]
		body := bodies[coding]
		switch coding {
		case "raw-deflate":
			coding, body = "deflate", raw
		case "br":
			body = []byte{0x0b, 0x02, 0x80}
		}
		if coding != "identity" {
			w.Header().Set("Content-Encoding", coding)
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	f := Fetcher{}
	for _, coding := range []string{"identity", "gzip", "x-gzip", "deflate", "raw-deflate", "zstd"} {
		var got bytes.Buffer
		require.NoError(t, f.Fetch(context.Background(), []string{srv.URL + "/" + coding}, SHA256(weights), 1<<20, &got), coding)
		assert.Equal(t, weights, got.Bytes(), coding)
	}
	err := f.Fetch(context.Background(), []string{srv.URL + "/br"}, SHA256(weights), 1<<20, io.Discard)
	assert.ErrorContains(t, err, `unsupported Content-Encoding "br"`)
	assert.Equal(t, "zstd, gzip, deflate", asked.Load(), "what we decode is what we ask for")
}
