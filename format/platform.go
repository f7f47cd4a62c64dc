package format

import (
	"runtime"
	"strings"
)

// knownArchs are the first components of target triples we accept; this
// mirrors what upstream's target-lexicon parser knows for the platforms a
// model could plausibly name.
var knownArchs = map[string]bool{
	"x86_64": true, "aarch64": true, "i686": true, "i586": true, "i386": true,
	"arm": true, "armv7": true, "armv7s": true, "arm64": true, "arm64e": true,
	"riscv64gc": true, "riscv64": true, "riscv32": true, "powerpc64": true,
	"powerpc64le": true, "s390x": true, "mips": true, "mips64": true,
	"wasm32": true, "wasm64": true, "loongarch64": true, "sparc64": true, "thumbv7em": true,
}

// ValidTargetTriple reports whether s looks like a target triple
// (ARCH-VENDOR-OS[-ENV], ARCH known), such as x86_64-unknown-linux-gnu.
func ValidTargetTriple(s string) bool {
	parts := strings.Split(s, "-")
	if len(parts) < 2 || len(parts) > 4 || !knownArchs[parts[0]] {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
	}
	return true
}

// HostTriple returns the target triple of the running process, as upstream
// spells it, or "" for a GOOS/GOARCH carton has no name for.
func HostTriple() string { return TargetTriple(runtime.GOOS, runtime.GOARCH) }

// TargetTriple maps a GOOS/GOARCH pair to a target triple.
func TargetTriple(goos, goarch string) string {
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "i686", "riscv64": "riscv64gc", "ppc64le": "powerpc64le", "s390x": "s390x"}[goarch]
	if arch == "" {
		return ""
	}
	switch goos {
	case "linux":
		return arch + "-unknown-linux-gnu"
	case "darwin":
		return arch + "-apple-darwin"
	case "windows":
		return arch + "-pc-windows-msvc"
	case "freebsd":
		return arch + "-unknown-freebsd"
	}
	return ""
}
