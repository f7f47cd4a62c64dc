package format

// Limits bound what reading a carton may cost, against zip bombs and
// hostile archives. The zero value of a field means its default.
type Limits struct {
	MaxEntries    int   // files, symlinks and directories in the archive
	MaxFileBytes  int64 // uncompressed size of one entry
	MaxTotalBytes int64 // uncompressed size of all entries
	// MaxRatio caps uncompressed/compressed size for entries larger than
	// RatioFloor bytes. Real weights compress at most a few times; a bomb
	// compresses thousands of times.
	MaxRatio   int64
	RatioFloor int64
	// Metadata files (carton.toml, LINKS, tensor_data/index.toml) are
	// parsed whole before anything else is read, so they are bounded before
	// the parser sees them: size, nesting (arrays, inline tables and dotted
	// key parts) and count of keys and array elements. MANIFEST, a line
	// per file, is bounded by MaxManifestBytes.
	MaxMetadataBytes  int64
	MaxNesting        int
	MaxMetadataValues int
	MaxManifestBytes  int64
}

// DefaultLimits are generous for real models (a 100 GiB carton loads) and
// stop a bomb before it is inflated.
var DefaultLimits = Limits{
	MaxEntries:    1 << 20,
	MaxFileBytes:  64 << 30,
	MaxTotalBytes: 256 << 30,
	MaxRatio:      1000,
	RatioFloor:    64 << 20,

	MaxMetadataBytes:  1 << 20,
	MaxNesting:        32,
	MaxMetadataValues: 10000,
	MaxManifestBytes:  8 << 20,
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxEntries > 0 {
		d.MaxEntries = l.MaxEntries
	}
	if l.MaxFileBytes > 0 {
		d.MaxFileBytes = l.MaxFileBytes
	}
	if l.MaxTotalBytes > 0 {
		d.MaxTotalBytes = l.MaxTotalBytes
	}
	if l.MaxRatio > 0 {
		d.MaxRatio = l.MaxRatio
	}
	if l.RatioFloor > 0 {
		d.RatioFloor = l.RatioFloor
	}
	if l.MaxMetadataBytes > 0 {
		d.MaxMetadataBytes = l.MaxMetadataBytes
	}
	if l.MaxNesting > 0 {
		d.MaxNesting = l.MaxNesting
	}
	if l.MaxMetadataValues > 0 {
		d.MaxMetadataValues = l.MaxMetadataValues
	}
	if l.MaxManifestBytes > 0 {
		d.MaxManifestBytes = l.MaxManifestBytes
	}
	return d
}

// Tensor data files are read whole; cap them separately.
const maxTensorFileBytes = 64 << 20
