package konghost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	pb "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
)

// rpc is Kong's per-plugin Rpc object (rpc/pb_rpc.lua@3.9.3): one sequence
// counter and the connection pool for one plugin binary.
type rpc struct {
	name    string
	pool    *Pool
	timeout time.Duration // lua_socket_read_timeout, 60 s in Kong (§3.3)
	msgID   atomic.Int64
}

// nextSeq reproduces "self.msg_id = self.msg_id + 1; local msg_id =
// self.msg_id; … msg_id = msg_id + 1": the first call sends 2 (§3.3).
func (r *rpc) nextSeq() int64 { return r.msgID.Add(1) + 1 }

// errExit ends an event after kong.response.exit: Kong sends no reply and
// abandons the connection (§3.10).
var errExit = errors.New("konghost: kong.response.exit")

// call sends one RpcCall on a pooled connection. bridge, for
// cmd_handle_event, runs the PDK callback loop before the RpcReturn is read.
// The connection goes back to the pool only after a clean RpcReturn with the
// right sequence; on any error it is closed.
func (r *rpc) call(ctx context.Context, call *pb.RpcCall, bridge func(*net.UnixConn) error) (*pb.RpcReturn, error) {
	seq := r.nextSeq() // taken before connecting, as Kong does
	call.Sequence = seq
	msg, err := proto.Marshal(call)
	if err != nil {
		return nil, err
	}
	c, err := r.pool.Get()
	if err != nil {
		return nil, fmt.Errorf("trying to connect: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	ret, err := r.exchange(c, seq, msg, bridge)
	if err != nil {
		c.Close()
		return nil, err
	}
	if !stop() { // ctx fired: the deadline may be set, do not pool
		c.Close()
		return ret, nil
	}
	r.pool.Put(c)
	return ret, nil
}

func (r *rpc) exchange(c *net.UnixConn, seq int64, msg []byte, bridge func(*net.UnixConn) error) (*pb.RpcReturn, error) {
	_ = c.SetDeadline(time.Now().Add(r.timeout))
	if err := writeFrame(c, msg); err != nil {
		return nil, err
	}
	if bridge != nil {
		if err := bridge(c); err != nil {
			return nil, err
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(r.timeout))
	frame, err := readFrame(c)
	if err != nil {
		return nil, err
	}
	var ret pb.RpcReturn
	if err := proto.Unmarshal(frame, &ret); err != nil {
		return nil, fmt.Errorf("decoding RpcReturn: %w", err)
	}
	if ret.Sequence != seq {
		return nil, fmt.Errorf("unmatching seq# (%d ≠ %d)", ret.Sequence, seq)
	}
	return &ret, nil
}

// startInstance is call_start_instance: the config goes as JSON bytes and
// the instance id comes back in instance_status (§3.5, §3.8).
func (r *rpc) startInstance(ctx context.Context, conf map[string]any) (int32, error) {
	b, err := json.Marshal(conf)
	if err != nil {
		return 0, err
	}
	ret, err := r.call(ctx, &pb.RpcCall{Call: &pb.RpcCall_CmdStartInstance{
		CmdStartInstance: &pb.CmdStartInstance{Name: r.name, Config: b},
	}}, nil)
	if err != nil {
		return 0, err
	}
	st := ret.GetInstanceStatus()
	if st == nil {
		return 0, errors.New("cmd_start_instance: RpcReturn without instance_status")
	}
	return st.InstanceId, nil
}

// closeInstance is call_close_instance; Kong ignores its result (§3.9).
func (r *rpc) closeInstance(ctx context.Context, id int32) error {
	_, err := r.call(ctx, &pb.RpcCall{Call: &pb.RpcCall_CmdCloseInstance{
		CmdCloseInstance: &pb.CmdCloseInstance{InstanceId: id},
	}}, nil)
	return err
}

// handleEvent sends cmd_handle_event and serves the plugin's PDK calls
// until the empty end-of-event frame (§3.6). serve answers one call: a nil
// reply is sent as a zero-length frame; errExit or any other error abandons
// the connection without a reply.
func (r *rpc) handleEvent(ctx context.Context, id int32, phase string, serve func(method string, args []byte) ([]byte, error)) error {
	_, err := r.call(ctx, &pb.RpcCall{Call: &pb.RpcCall_CmdHandleEvent{
		CmdHandleEvent: &pb.CmdHandleEvent{InstanceId: id, EventName: phase},
	}}, func(c *net.UnixConn) error {
		for {
			_ = c.SetReadDeadline(time.Now().Add(r.timeout))
			name, err := readFrame(c)
			if err != nil {
				return err
			}
			if len(name) == 0 {
				return nil
			}
			args, err := readFrame(c)
			if err != nil {
				return err
			}
			reply, err := serve(string(name), args)
			if err != nil {
				return err
			}
			if err := writeFrame(c, reply); err != nil {
				return err
			}
		}
	})
	return err
}
