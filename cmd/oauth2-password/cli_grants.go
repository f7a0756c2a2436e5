package main

import (
	"context"
	"errors"
	"time"

	"github.com/oauth2-password/oauth2-password/store"
)

// clientsGet prints one client as `clients list` shows it: no secret, and
// the services whose tokens it may introspect.
func (c *cli) clientsGet(args []string) error {
	fs := c.flagSet("clients get")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: clients get CLIENT_ID")
	}
	return c.withStore(func(ctx context.Context, s store.Store) error {
		cl, err := s.Client(ctx, pos[0])
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errNoClient(pos[0])
			}
			return err
		}
		return c.printJSON(clientView(cl))
	})
}

// clientView is the CLI's JSON of a stored client: never a secret or its
// digest.
func clientView(cl store.Client) clientJSON {
	return clientJSON{
		ClientID: cl.ID, Consumer: cl.Consumer, Name: cl.Name, ClientType: cl.Type,
		RedirectURIs: cl.RedirectURIs, CreatedAt: cl.CreatedAt.UTC().Format(time.RFC3339),
		IntrospectServices: cl.IntrospectServices,
	}
}

// clientsIntrospection is `clients grant-introspection` (allow) and
// `clients revoke-introspection`: the operator's decision that a client (a
// resource server) may introspect every token of a service, not only the
// tokens issued to it (RFC 7662 §4). It prints the client as `clients get`
// does.
func (c *cli) clientsIntrospection(name string, allow bool, args []string) error {
	fs := c.flagSet(name)
	var svc string
	fs.StringVar(&svc, "service", "", "SERVICE (serve mode) or Kong service id whose tokens the client may introspect")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return usagef("usage: %s CLIENT_ID --service SERVICE", name)
	case svc == "":
		return usagef("%s: --service is required", name)
	case len(svc) > 255 || !validServiceName(svc): // a SERVICE, or a Kong service id (a UUID)
		return usagef("%s: --service must be a service name or id ([A-Za-z0-9._-]+, not . or ..)", name)
	}
	return c.withStore(func(ctx context.Context, s store.Store) error {
		if allow {
			// RFC 7662 §4: introspection needs a client that can
			// authenticate; public clients are refused there, so a grant
			// to one would be shown and never work.
			cl, err := s.Client(ctx, pos[0])
			if errors.Is(err, store.ErrNotFound) {
				return errNoClient(pos[0])
			}
			if err != nil {
				return err
			}
			if cl.Type == store.Public {
				return errorf("%s: %q is a public client; only confidential clients may introspect", name, pos[0])
			}
		}
		if err := s.SetIntrospection(ctx, pos[0], svc, allow); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errNoClient(pos[0])
			}
			return err
		}
		cl, err := s.Client(ctx, pos[0])
		if err != nil {
			return err
		}
		return c.printJSON(clientView(cl))
	})
}
