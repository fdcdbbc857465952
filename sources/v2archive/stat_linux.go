package v2archive

import (
	"io/fs"
	"syscall"
)

// inodeCtime returns the file's inode number and status-change time: a
// file replaced under the same name has another inode, and any write or
// rename touches ctime, which no tool can set back.
func inodeCtime(fi fs.FileInfo) (ino, ctime int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Ino), st.Ctim.Nano()
	}
	return 0, 0
}
