package main

import (
	"bytes"
	"io"
	"log/slog"
)

// quietLog drops the two lines go-pdk's server logs for connections that
// end normally, which would otherwise reach Kong's error log on nearly
// every request (kong/PROTOCOL.md):
//   - "EOF": Kong closed an idle pooled connection;
//   - "… use of closed network connection": after kong.response.exit Kong
//     never replies and drops the connection, so go-pdk's end-of-event
//     write fails. Every 401 and every token response takes this path.
//
// Every other line (go-pdk's own errors, ours) goes through unchanged. The
// standard logger calls Write once per line, so a line is never split.
type quietLog struct{ w io.Writer }

func (q quietLog) Write(p []byte) (int, error) {
	line := bytes.TrimRight(p, "\n")
	if bytes.HasSuffix(line, []byte(" EOF")) || bytes.Equal(line, []byte("EOF")) ||
		bytes.HasSuffix(line, []byte("use of closed network connection")) {
		return len(p), nil
	}
	return q.w.Write(p)
}

// libraryLog turns a library's standard-logger lines (go-pdk's, net/http's
// server errors) into slog records: a fixed message naming the library,
// the library's text as an attribute.
type libraryLog struct {
	log *slog.Logger
	msg string
}

func (l libraryLog) Write(p []byte) (int, error) {
	l.log.Warn(l.msg, "line", string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
