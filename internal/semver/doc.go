// Package semver implements semantic versions and Cargo-style version
// requirements (the semantics of Rust's semver crate VersionReq), which is
// what carton.toml's required_framework_version holds.
//
// Requirement forms: a bare "1.2" means "^1.2"; "=2.0" matches any 2.0.x;
// "~1.2.3", "^0.2", ">=1.2, <1.5" (comma = AND), "*", "1.*", "1.2.x".
// A pre-release version matches only a comparator that names the same
// major.minor.patch with a pre-release, as in Cargo.
//
// Values are immutable and safe for concurrent use.
package semver
