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
	return Limits{
		MaxEntries:        orDefault(l.MaxEntries, d.MaxEntries),
		MaxFileBytes:      orDefault(l.MaxFileBytes, d.MaxFileBytes),
		MaxTotalBytes:     orDefault(l.MaxTotalBytes, d.MaxTotalBytes),
		MaxRatio:          orDefault(l.MaxRatio, d.MaxRatio),
		RatioFloor:        orDefault(l.RatioFloor, d.RatioFloor),
		MaxMetadataBytes:  orDefault(l.MaxMetadataBytes, d.MaxMetadataBytes),
		MaxNesting:        orDefault(l.MaxNesting, d.MaxNesting),
		MaxMetadataValues: orDefault(l.MaxMetadataValues, d.MaxMetadataValues),
		MaxManifestBytes:  orDefault(l.MaxManifestBytes, d.MaxManifestBytes),
	}
}

// orDefault is v when it is set (positive), else d.
func orDefault[T int | int64](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}

// Tensor data files are read whole; cap them separately.
const maxTensorFileBytes = 64 << 20
