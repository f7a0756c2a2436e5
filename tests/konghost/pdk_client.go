package konghost

import (
	"strconv"
	"strings"

	pb "github.com/Kong/go-pdk/server/kong_plugin_protocol"
	"google.golang.org/protobuf/proto"
)

// kong.client.*, kong.ip.* and kong.router.*.
func init() {
	register(map[string]pdkFunc{
		"kong.client.get_ip": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.String{V: x.req.ClientIP}, nil
		},
		// With real_ip_recursive off (Kong's default) nginx takes the last
		// X-Forwarded-For address, and only from a trusted peer.
		"kong.client.get_forwarded_ip": func(x *reqState, _ []byte) (proto.Message, error) {
			if v, ok := x.header["x-forwarded-for"]; ok && x.h.isTrusted(x.req.ClientIP) {
				parts := strings.Split(v[len(v)-1], ",")
				return &pb.String{V: strings.TrimSpace(parts[len(parts)-1])}, nil
			}
			return &pb.String{V: x.req.ClientIP}, nil
		},
		"kong.client.get_port": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.Int{V: int32(x.req.ClientPort)}, nil
		},
		"kong.client.get_forwarded_port": func(x *reqState, _ []byte) (proto.Message, error) {
			p, err := strconv.Atoi(x.forwarded("x-forwarded-port", strconv.Itoa(x.req.ClientPort)))
			if err != nil {
				p = x.req.ClientPort
			}
			return &pb.Int{V: int32(p)}, nil
		},
		// No credential/consumer yet: Lua nil, a zero-length reply.
		"kong.client.get_credential": func(x *reqState, _ []byte) (proto.Message, error) {
			if x.credential == nil {
				return nil, nil
			}
			return &pb.AuthenticatedCredential{Id: x.credential.ID, ConsumerId: x.credential.ConsumerID}, nil
		},
		"kong.client.get_consumer": func(x *reqState, _ []byte) (proto.Message, error) {
			if x.consumer == nil {
				return nil, nil
			}
			return consumerMsg(*x.consumer), nil
		},
		// load_consumer(id, by_username): Kong raises "cannot load a
		// consumer with an id that is not a uuid" unless by_username; with
		// by_username it tries the id (if a UUID) and then the username
		// (§9). Not found → nil.
		"kong.client.load_consumer": func(x *reqState, args []byte) (proto.Message, error) {
			var spec pb.ConsumerSpec
			if err := decode(args, &spec); err != nil {
				return nil, err
			}
			valid := IsUUID(spec.Id)
			if !valid && !spec.ByUsername {
				return nil, raise("cannot load a consumer with an id that is not a uuid")
			}
			if valid {
				if c, ok := x.h.consumerBy(func(c Consumer) bool { return strings.EqualFold(c.ID, spec.Id) }); ok {
					return consumerMsg(c), nil
				}
			}
			if spec.ByUsername {
				if c, ok := x.h.consumerBy(func(c Consumer) bool { return c.Username == spec.Id }); ok {
					return consumerMsg(c), nil
				}
			}
			return nil, nil
		},
		"kong.client.authenticate": func(x *reqState, args []byte) (proto.Message, error) {
			var a pb.AuthenticateArgs
			if err := decode(args, &a); err != nil {
				return nil, err
			}
			if a.Consumer == nil && a.Credential == nil {
				return nil, raise("either credential or consumer must be provided")
			}
			x.consumer, x.credential = nil, nil
			if c := a.Consumer; c != nil {
				x.consumer = &Consumer{ID: c.Id, Username: c.Username, CustomID: c.CustomId}
			}
			if c := a.Credential; c != nil {
				x.credential = &Credential{ID: c.Id, ConsumerID: c.ConsumerId}
			}
			return nil, nil
		},
		// The route's protocol for the client's scheme; allow_terminated
		// honours a trusted X-Forwarded-Proto.
		"kong.client.get_protocol": func(x *reqState, args []byte) (proto.Message, error) {
			var allow pb.Bool
			if err := decode(args, &allow); err != nil {
				return nil, err
			}
			p := x.req.Scheme
			if allow.V {
				if f := strings.ToLower(x.forwarded("x-forwarded-proto", p)); f == "https" {
					p = f
				}
			}
			return &pb.String{V: p}, nil
		},
		"kong.ip.is_trusted": func(x *reqState, args []byte) (proto.Message, error) {
			var ip pb.String
			if err := decode(args, &ip); err != nil {
				return nil, err
			}
			return &pb.Bool{V: x.h.isTrusted(ip.V)}, nil
		},
		"kong.router.get_route": func(x *reqState, _ []byte) (proto.Message, error) {
			r := &pb.Route{
				Id: x.svc.RouteID, Name: x.svc.Name, Protocols: []string{"http", "https"},
				Service: &pb.ServiceKey{Id: x.svc.ServiceID},
			}
			if x.svc.Host != "" {
				r.Hosts = []string{x.svc.Host}
			}
			if x.svc.PathPrefix != "" {
				r.Paths = []string{x.svc.PathPrefix}
			}
			return r, nil
		},
		"kong.router.get_service": func(x *reqState, _ []byte) (proto.Message, error) {
			return &pb.Service{
				Id: x.svc.ServiceID, Name: x.svc.Name, Protocol: "http", Host: "upstream.konghost",
				Port: 80, Retries: 5, ConnectTimeout: 60000, WriteTimeout: 60000, ReadTimeout: 60000,
			}, nil
		},
	})
}

func consumerMsg(c Consumer) *pb.Consumer {
	return &pb.Consumer{Id: c.ID, Username: c.Username, CustomId: c.CustomID}
}
