package kong2host

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ugorji/go/codec"

	"github.com/oauth2-password/oauth2-password/tests/konghost"
)

// handle is the MessagePack setup both sides use (go-pluginserver's
// main.go): strings as raw, decoded maps as map[string]any. No read
// buffer: a pooled connection must not lose bytes read ahead.
var handle = func() *codec.MsgpackHandle {
	var h codec.MsgpackHandle
	h.RawToString = true
	h.MapType = reflect.TypeOf(map[string]any(nil))
	return &h
}()

// rpc is mp_rpc.lua's Rpc object: a message id counter, the connection
// pool of the worker and the serverPid notification handler.
type rpc struct {
	pool    *konghost.Pool
	timeout time.Duration
	msgID   atomic.Int64
	onPid   func(pid int64)
}

// remoteError is the error field of a response: go-pluginserver's own
// error (no such instance, bad config, ...), as Kong receives it.
type remoteError struct{ msg string }

func (e *remoteError) Error() string { return e.msg }

// call is Rpc:call: send [0, msgid, method, {arg}], then read objects,
// handing notifications to onPid, until the response with our msgid.
func (r *rpc) call(ctx context.Context, method string, arg any) (any, error) {
	id := r.msgID.Add(1)
	c, err := r.pool.Get()
	if err != nil {
		return nil, fmt.Errorf("trying to connect: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(r.timeout))
	res, err := r.exchange(c, id, method, arg)
	if err != nil && !errors.As(err, new(*remoteError)) {
		c.Close()
		return nil, err
	}
	if !stop() {
		c.Close()
	} else {
		r.pool.Put(c)
	}
	return res, err
}

func (r *rpc) exchange(c net.Conn, id int64, method string, arg any) (any, error) {
	if err := codec.NewEncoder(c, handle).Encode([]any{0, id, method, []any{arg}}); err != nil {
		return nil, err
	}
	dec := codec.NewDecoder(c, handle)
	for {
		var msg []any
		if err := dec.Decode(&msg); err != nil {
			return nil, fmt.Errorf("no data: %w", err)
		}
		if len(msg) == 3 && toInt(msg[0]) == 2 {
			if msg[1] == "serverPid" && r.onPid != nil {
				r.onPid(toInt(msg[2]))
			}
			continue
		}
		if len(msg) != 4 || toInt(msg[0]) != 1 {
			return nil, fmt.Errorf("RPC response expected from Go plugin server, got %v", msg)
		}
		if toInt(msg[1]) != id {
			return nil, fmt.Errorf("unexpected RPC response ID from Go plugin server: %v, want %d", msg[1], id)
		}
		if msg[2] != nil {
			return nil, &remoteError{fmt.Sprint(msg[2])}
		}
		return msg[3], nil
	}
}

// toInt reads a MessagePack integer whatever width and sign it came as;
// anything else is -1.
func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case uint64:
		return int64(n)
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return -1
}

// instances is init.lua's running_instances: key → instance, with the
// claim that makes concurrent requests wait for one start.
type instances struct {
	mu sync.Mutex
	m  map[string]*instance
}

type instance struct {
	id    int64 // -1 while being started
	seq   int64
	ready chan struct{}
}
