//go:build cgo

package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/cgo"
	"unsafe"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend/libtorch"
	_ "github.com/carton-run/carton/backend/onnx"
	_ "github.com/carton-run/carton/backend/tensorflow"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/cliopt"
)

//export capi_load
func capi_load(path *C.char, opts *C.carton_load_options, out **C.carton_model, errOut **C.char) (status C.int) {
	defer guard(&status, errOut)
	if path == nil || out == nil {
		return fail(errOut, fmt.Errorf("%w: carton_load needs a path and somewhere to put the model", errInvalidArgument))
	}
	*out = nil
	syncEnviron()
	options, err := loadOptions(opts)
	if err != nil {
		return fail(errOut, err)
	}
	m, err := carton.Load(context.Background(), C.GoString(path), options...)
	if err != nil {
		return fail(errOut, err)
	}
	*out = newCModel(m)
	return ok(errOut)
}

// loadOptions reads carton_load_options: fields up to opts.size.
func loadOptions(opts *C.carton_load_options) ([]carton.Option, error) {
	if opts == nil {
		return nil, nil
	}
	if opts.size == 0 || opts.size > C.sizeof_carton_load_options {
		return nil, fmt.Errorf("%w: carton_load_options.size is %d: set it to sizeof(carton_load_options), %d in this library", errInvalidArgument, opts.size, C.sizeof_carton_load_options)
	}
	var out []carton.Option
	str := func(p *C.char, opt func(string) carton.Option) {
		if p != nil {
			out = append(out, opt(C.GoString(p)))
		}
	}
	str(opts.device, carton.WithDevice)
	str(opts.framework_version, carton.WithFrameworkVersion)
	str(opts.runtime_path, carton.WithRuntimePath)
	str(opts.cache_dir, carton.WithCacheDir)
	if n := int(opts.num_runner_opts); n > 0 {
		if opts.runner_opt_keys == nil || opts.runner_opt_values == nil {
			return nil, fmt.Errorf("%w: %d runner options but no keys or values", errInvalidArgument, n)
		}
		keys := unsafe.Slice(opts.runner_opt_keys, n)
		values := unsafe.Slice(opts.runner_opt_values, n)
		for i := range n {
			if keys[i] == nil || values[i] == nil {
				return nil, fmt.Errorf("%w: runner option %d is NULL", errInvalidArgument, i)
			}
			out = append(out, carton.WithRunnerOpt(C.GoString(keys[i]), cliopt.Value(C.GoString(values[i]))))
		}
	}
	return out, nil
}

//export capi_info
func capi_info(path *C.char, out **C.carton_model, errOut **C.char) (status C.int) {
	defer guard(&status, errOut)
	if path == nil || out == nil {
		return fail(errOut, fmt.Errorf("%w: carton_info needs a path and somewhere to put the info", errInvalidArgument))
	}
	*out = nil
	syncEnviron()
	info, err := carton.ModelInfo(context.Background(), C.GoString(path))
	if err != nil {
		return fail(errOut, err)
	}
	*out = newCInfo(*info)
	return ok(errOut)
}

// newCModel is the C handle of m, with C copies of its info.
func newCModel(m *carton.Model) *C.carton_model {
	cm := newCInfo(m.Info())
	cm.handle = C.uintptr_t(cgo.NewHandle(m))
	return cm
}

// newCInfo is a C handle holding C copies of info, and no model.
func newCInfo(info carton.Info) *C.carton_model {
	cm := (*C.carton_model)(C.calloc(1, C.sizeof_carton_model))
	js, err := json.Marshal(info)
	if err != nil {
		js = []byte("{}")
	}
	cm.info_json = cString(string(js))
	cm.name = cString(info.ModelName)
	cm.runner = cString(info.Runner.RunnerName)
	cm.required_framework_version = cString(info.Runner.RequiredFrameworkVersion)
	var framework, version string
	if rt := info.Runtime; rt != nil {
		framework, version = rt.Framework, rt.Version
	}
	cm.runtime_framework = cString(framework)
	cm.runtime_version = cString(version)
	cm.inputs, cm.num_inputs = cSpecs(info.Inputs)
	cm.outputs, cm.num_outputs = cSpecs(info.Outputs)
	return cm
}

// cSpecs copies specs into C memory: one array, each name and shape
// malloc'd.
func cSpecs(specs []format.TensorSpec) (*C.carton_tensor_spec, C.size_t) {
	if len(specs) == 0 {
		return nil, 0
	}
	arr := (*C.carton_tensor_spec)(C.calloc(C.size_t(len(specs)), C.sizeof_carton_tensor_spec))
	out := unsafe.Slice(arr, len(specs))
	for i, s := range specs {
		out[i].name = cString(s.Name)
		out[i].dtype = C.carton_dtype(s.DType)
		out[i].ndim = -1
		if s.Shape.Kind == format.ShapeDims {
			out[i].ndim = C.int64_t(len(s.Shape.Dims))
			if len(s.Shape.Dims) > 0 {
				dims := (*C.int64_t)(C.malloc(C.size_t(8 * len(s.Shape.Dims))))
				for j, d := range s.Shape.Dims {
					size := int64(-1)
					if d.Kind == format.DimFixed {
						size = d.Size
					}
					unsafe.Slice(dims, len(s.Shape.Dims))[j] = C.int64_t(size)
				}
				out[i].shape = dims
			}
		}
	}
	return arr, C.size_t(len(specs))
}

func freeSpecs(arr *C.carton_tensor_spec, n C.size_t) {
	if arr == nil {
		return
	}
	for _, s := range unsafe.Slice(arr, int(n)) {
		C.free(unsafe.Pointer(s.name))
		C.free(unsafe.Pointer(s.shape))
	}
	C.free(unsafe.Pointer(arr))
}

// modelOf is the model behind a C handle.
func modelOf(cm *C.carton_model) (*carton.Model, error) {
	if cm == nil {
		return nil, fmt.Errorf("%w: the model is NULL", errInvalidArgument)
	}
	if cm.handle == 0 {
		return nil, fmt.Errorf("%w: opened by carton_info, for its metadata only: carton_load it to infer", errInvalidArgument)
	}
	return cgo.Handle(cm.handle).Value().(*carton.Model), nil
}

//export capi_close
func capi_close(cm *C.carton_model, errOut **C.char) (status C.int) {
	defer guard(&status, errOut)
	if cm == nil {
		return ok(errOut)
	}
	var closeErr error
	if cm.handle != 0 {
		closeErr = cgo.Handle(cm.handle).Value().(*carton.Model).Close()
		cgo.Handle(cm.handle).Delete()
	}
	for _, s := range []*C.char{cm.info_json, cm.name, cm.runner, cm.required_framework_version, cm.runtime_framework, cm.runtime_version} {
		C.free(unsafe.Pointer(s))
	}
	freeSpecs(cm.inputs, cm.num_inputs)
	freeSpecs(cm.outputs, cm.num_outputs)
	C.free(unsafe.Pointer(cm))
	if closeErr != nil {
		return fail(errOut, closeErr)
	}
	return ok(errOut)
}
