package main

import (
	"bytes"
	"io"
	"log/slog"
	"regexp"
)

// quietLog drops the two lines go-pdk's server logs for connections that
// end normally, which would otherwise reach Kong's error log on nearly
// every request (kong/PROTOCOL.md §7). go-pdk's servePb ends each
// connection with log.Print(err), so the message is the error's text alone
// after the standard logger's date and time:
//   - "EOF": Kong closed an idle pooled connection between two frames
//     (binary.Read of the next frame length read nothing);
//   - "write unix SOCKET->PEER: use of closed network connection": after
//     kong.response.exit go-pdk closes the connection itself and its
//     end-of-event write then fails. Every 401 and every token response
//     takes this path.
//
// Only those exact messages are dropped. Every other line goes through
// unchanged: go-pdk's other errors ("unexpected EOF" in the middle of a
// frame is a real fault), and all of ours. The standard logger calls Write
// once per line, so a line is never split.
type quietLog struct{ w io.Writer }

// benignPDKLine matches a whole line as the standard logger writes it (date
// and time, optionally microseconds, when the flags ask for them) holding
// one of go-pdk's connection-end messages.
var benignPDKLine = regexp.MustCompile(`^(\d{4}/\d{2}/\d{2} )?(\d{2}:\d{2}:\d{2}(\.\d{6})? )?` +
	`(EOF|write unix \S*->\S*: use of closed network connection)\n?$`)

func (q quietLog) Write(p []byte) (int, error) {
	if len(p) < 200 && benignPDKLine.Match(p) {
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
