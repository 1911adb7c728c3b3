package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// allocated is the disk space a file really uses (st_blocks), which for
// badger's sparse, preallocated files is far below their length.
func allocated(path string) (int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Blocks * 512, nil
}
