package format

import (
	"archive/zip"
	"io"
)

// WriteMetadata writes to w a carton holding only c's carton.toml,
// MANIFEST and LINKS, byte for byte: the same model (the same manifest
// hash) with none of its files. It opens like any carton; reading a
// file it lacks is an error. It is what lets a carton read over the
// network load again offline from a model extracted before. It reads
// nothing: Open kept those three files.
func WriteMetadata(w io.Writer, c *Carton) error {
	zw := zip.NewWriter(w)
	if err := writeStored(zw, "carton.toml", c.raw.config); err != nil {
		return err
	}
	if err := writeStored(zw, "MANIFEST", c.raw.manifest); err != nil {
		return err
	}
	if c.raw.links != nil {
		if err := writeStored(zw, "LINKS", c.raw.links); err != nil {
			return err
		}
	}
	return zw.Close()
}
