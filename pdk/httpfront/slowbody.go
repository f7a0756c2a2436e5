package httpfront

import (
	"errors"
	"net"
	"net/http"
	"time"
)

// readBody reads the body of a client-endpoint request before the engine
// runs, so that a body that cannot be read is the client's error and not
// the engine's 500; ok is false when it has been answered. A body cut off
// by the server's read timeout (one that trickles in) is 408 (RFC 9110
// §15.5.9); any other read error (a malformed chunked encoding, a client
// that went away) is 400 (§15.5.1). The connection is closed after
// either: what is left of the body on it cannot be framed.
func (s *Service) readBody(w http.ResponseWriter, q *request, endpoint string, start time.Time) bool {
	_, err := q.RawBody()
	switch {
	case err == nil:
		return true
	case isTimeout(err):
		s.refuse(w, http.StatusRequestTimeout, "The request body did not arrive in time", endpoint, start, map[string]string{"Connection": "close"})
	default:
		s.refuse(w, http.StatusBadRequest, "The request body could not be read", endpoint, start, map[string]string{"Connection": "close"})
	}
	return false
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
