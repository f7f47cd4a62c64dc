//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package format

import (
	"io/fs"
	"syscall"
)

// sysIdentity fills the device, inode and change time from st.
func sysIdentity(st fs.FileInfo, id *FileIdentity) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	id.Device, id.Inode = uint64(sys.Dev), uint64(sys.Ino)
	sec, nsec := statCtime(sys)
	id.ChangeTime = sec*1e9 + nsec
	return true
}
