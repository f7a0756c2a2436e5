package spoe

import (
	"encoding/binary"
	"fmt"
	"net"
)

// maxFrameSize bounds a frame HAProxy may send. HAProxy's own limit is
// the agent's max-frame-size, at most tune.bufsize-4 (16380 by default);
// 64 KiB leaves room for a larger tune.bufsize and still bounds what one
// frame may allocate.
const maxFrameSize = 64 << 10

// minFrameSize is the smallest frame SPOP allows: type, 4 bytes of flags,
// stream-id and frame-id (SPOE.txt §3.2).
const minFrameSize = 7

// limitFrames refuses, by ending the connection, a frame whose length is
// below minFrameSize or above max: the library allocates whatever length
// it reads (a length of 0 wraps to 4 GiB) and slices the frame without
// checking it.
func limitFrames(c net.Conn, max uint32) net.Conn {
	return &frameLimit{Conn: c, max: max}
}

// frameLimit follows the frame boundaries of what it reads: each frame is
// a 4-byte big-endian length and that many bytes.
type frameLimit struct {
	net.Conn
	max    uint32
	head   [4]byte
	nhead  int    // bytes of the current length read so far
	remain uint32 // bytes of the current frame still to come
}

func (f *frameLimit) Read(p []byte) (int, error) {
	n, err := f.Conn.Read(p)
	for b := p[:n]; len(b) > 0; {
		if f.remain > 0 {
			skip := min(uint32(len(b)), f.remain)
			f.remain -= skip
			b = b[skip:]
			continue
		}
		k := copy(f.head[f.nhead:], b)
		f.nhead += k
		b = b[k:]
		if f.nhead < len(f.head) {
			continue
		}
		f.nhead = 0
		size := binary.BigEndian.Uint32(f.head[:])
		if size < minFrameSize || size > f.max {
			f.Conn.Close()
			return 0, fmt.Errorf("SPOP frame of %d bytes: not between %d and %d", size, minFrameSize, f.max)
		}
		f.remain = size
	}
	return n, err
}
