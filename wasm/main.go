//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"
	"syscall/js"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/httpfile"
)

func main() {
	api := js.Global().Get("Object").New()
	api.Set("getModelInfo", js.FuncOf(getModelInfo))
	js.Global().Set("carton", api)
	if ready := js.Global().Get("onCartonReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {} // serve calls for as long as the page lives
}

// getModelInfo(urlOrBytes) returns a Promise of the carton's info.
func getModelInfo(_ js.Value, args []js.Value) any {
	var src js.Value
	if len(args) > 0 {
		src = args[0]
	}
	return js.Global().Get("Promise").New(js.FuncOf(func(_ js.Value, fns []js.Value) any {
		resolve, reject := fns[0], fns[1]
		go func() {
			info, err := modelInfo(src)
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(info)
		}()
		return nil
	}))
}

// modelInfo reads the carton at src (a URL string, a Uint8Array or an
// ArrayBuffer) into a JavaScript object.
func modelInfo(src js.Value) (js.Value, error) {
	ctx := context.Background()
	var c *format.Carton
	var err error
	switch {
	case src.Type() == js.TypeString:
		url := src.String()
		f, ferr := httpfile.Open(ctx, url, httpfile.Options{})
		if ferr != nil {
			return js.Null(), ferr
		}
		defer f.Close()
		c, err = format.OpenReader(f, f.Size(), httpfile.Redact(url), format.OpenOptions{Context: ctx})
	case src.InstanceOf(js.Global().Get("Uint8Array")) || src.InstanceOf(js.Global().Get("ArrayBuffer")):
		u8 := src
		if !src.InstanceOf(js.Global().Get("Uint8Array")) {
			u8 = js.Global().Get("Uint8Array").New(src)
		}
		b := make([]byte, u8.Get("length").Int())
		js.CopyBytesToGo(b, u8)
		c, err = format.OpenReader(bytes.NewReader(b), int64(len(b)), "carton", format.OpenOptions{Context: ctx})
	default:
		return js.Null(), fmt.Errorf("getModelInfo: want a URL, a Uint8Array or an ArrayBuffer, not %s", src.Type())
	}
	if err != nil {
		return js.Null(), err
	}
	defer c.Close()
	return toJS(c)
}

// info is what getModelInfo returns, besides the misc files.
type info struct {
	*format.Config
	ManifestSHA256 string   `json:"manifest_sha256"`
	MiscFiles      []string `json:"misc_files"`
}

// toJS is c's metadata as a plain object (through JSON, carton.toml's own
// names), with misc: {path: Blob}.
func toJS(c *format.Carton) (js.Value, error) {
	misc := c.Files("misc/")
	js1, err := json.Marshal(info{Config: c.Config, ManifestSHA256: c.ManifestSHA256, MiscFiles: misc})
	if err != nil {
		return js.Null(), err
	}
	obj := js.Global().Get("JSON").Call("parse", string(js1))
	blobs := js.Global().Get("Object").New()
	for _, name := range misc {
		data, err := c.ReadFile(name)
		if err != nil {
			return js.Null(), fmt.Errorf("%s: %w", name, err)
		}
		u8 := js.Global().Get("Uint8Array").New(len(data))
		js.CopyBytesToJS(u8, data)
		opts := js.Global().Get("Object").New()
		opts.Set("type", mimeType(name, data))
		blobs.Set(name, js.Global().Get("Blob").New([]any{u8}, opts))
	}
	obj.Set("misc", blobs)
	return obj, nil
}

// mimeType is a misc file's type, by its extension, else by its content
// (an example's files are stored without one: misc/_example_misc_file_N).
func mimeType(name string, data []byte) string {
	if t := mime.TypeByExtension(strings.ToLower(path.Ext(name))); t != "" {
		return t
	}
	return http.DetectContentType(data)
}
