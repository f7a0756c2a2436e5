package httpfront

import (
	"errors"
	"net"
	"net/http"
	"time"
)

// readBody reads the body of a client-endpoint request before the engine
// runs. When the server's read timeout cuts off a body that trickles in,
// the client is answered 408 (RFC 9110 §15.5.9) and the connection closed,
// rather than the engine failing on the read with a 500; ok is false then.
// Any other read error is left for the engine, which reports it.
func (s *Service) readBody(w http.ResponseWriter, q *request, endpoint string, start time.Time) bool {
	if _, err := q.RawBody(); err == nil || !isTimeout(err) {
		return true
	}
	s.refuse(w, http.StatusRequestTimeout, "The request body did not arrive in time", endpoint, start, map[string]string{"Connection": "close"})
	return false
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
