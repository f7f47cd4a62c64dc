module github.com/carton-run/carton

go 1.26.8

require github.com/stretchr/testify v1.12.1

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
