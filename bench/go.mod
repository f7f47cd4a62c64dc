module github.com/carton-run/carton/bench

go 1.26.8

require (
	github.com/carton-run/carton v0.0.0
	github.com/yalue/onnxruntime_go v1.27.0
)

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/ebitengine/purego v0.11.3 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
)

replace github.com/carton-run/carton => ../
