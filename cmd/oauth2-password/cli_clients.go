package main

import (
	"context"
	"errors"
	"flag"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/plugin/oauth"
	"github.com/oauth2-password/oauth2-password/store"
	"github.com/oauth2-password/oauth2-password/store/clientsecret"
)

// stringList collects a repeated flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// clientJSON is the CLI's view of a client. The secret appears only in the
// answer to `clients create`, and only when it was generated or given there.
type clientJSON struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret,omitempty"`
	Consumer     string   `json:"consumer"`
	Name         string   `json:"name"`
	ClientType   string   `json:"client_type"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	CreatedAt    string   `json:"created_at,omitempty"`
	// IntrospectServices: the services whose tokens the client may
	// introspect besides its own (`clients grant-introspection`).
	IntrospectServices []string `json:"introspect_services,omitempty"`
}

func (c *cli) clientsCreate(args []string) error {
	fs := c.flagSet("clients create")
	var (
		consumer, name, id, secret string
		public                     bool
		redirects                  stringList
	)
	fs.StringVar(&consumer, "consumer", "", "Kong consumer id or username")
	fs.StringVar(&name, "name", "", "client name")
	fs.StringVar(&id, "client-id", "", "client_id (default: generated)")
	fs.StringVar(&secret, "client-secret", "", "client secret (default: generated); - reads it from the first line of stdin, keeping it out of the process list and shell history")
	fs.BoolVar(&public, "public", false, "public client: no secret")
	fs.Var(&redirects, "redirect-uri", "redirect URI (repeatable; informational for the password grant)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("clients create takes no arguments, got %q", pos[0])
	case strings.TrimSpace(consumer) == "":
		return usagef("clients create: --consumer is required")
	case strings.TrimSpace(name) == "":
		return usagef("clients create: --name is required")
	case !oauth.Printable(consumer):
		return usagef("clients create: --consumer must be printable UTF-8 (it is sent upstream in a header)")
	case !oauth.Printable(name):
		return usagef("clients create: --name must be printable UTF-8")
	case public && secret != "":
		return usagef("clients create: --client-secret cannot be used with --public")
	}
	fromStdin := secret == "-"
	if fromStdin {
		if secret, err = c.secretArg("clients create: --client-secret -: no secret", secret); err != nil {
			return err
		}
	}
	if id != "" {
		if err := checkClientID(id); err != nil {
			return err
		}
	}
	// Any secret an app may already carry (Kong accepted any): a short
	// one is kept as a slow hash (package clientsecret) and the operator is
	// told it is weak, on stderr so that stdout stays one JSON object.
	if isSet(fs, "client-secret") {
		if err := clientsecret.Check(secret); err != nil {
			return usagef("clients create: --client-secret: %v", err)
		}
		if clientsecret.Weak(secret) {
			c.warnf("warning: a client secret under %d characters is weak; it is stored as a slow argon2id hash, but rotate it to a generated one when you can", clientsecret.FastMinLen)
		}
	}
	for _, u := range redirects {
		if err := checkRedirectURI(u); err != nil {
			return err
		}
	}

	if id == "" {
		if id, err = plugin.RandomString(); err != nil {
			return err
		}
	}
	cl := store.Client{
		ID: id, Name: name, Consumer: consumer, Type: store.Confidential,
		RedirectURIs: redirects, CreatedAt: time.Now().UTC().Truncate(time.Second),
	}
	if public {
		cl.Type = store.Public
	} else {
		if secret == "" {
			if secret, err = plugin.RandomString(); err != nil {
				return err
			}
		}
		if err := clientsecret.Set(&cl, secret); err != nil {
			return err
		}
	}

	return c.withStore(func(ctx context.Context, s store.Store) error {
		if err := s.CreateClient(ctx, cl); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errorf("a client with client_id %q already exists", id)
			}
			return err
		}
		out := clientJSON{
			ClientID: cl.ID, ClientSecret: secret, Consumer: cl.Consumer,
			Name: cl.Name, ClientType: cl.Type, RedirectURIs: cl.RedirectURIs,
		}
		if fromStdin {
			// The caller has it; printing it would put it back where
			// reading stdin kept it away from (a terminal, a CI log).
			out.ClientSecret = ""
		}
		if err := c.printJSON(out); err != nil {
			// A generated secret is shown once, here: a client whose
			// output was lost is one nobody can use. Taken back, so that
			// the command can simply run again.
			if derr := s.DeleteClient(ctx, cl.ID); derr != nil {
				return errorf("client %q was created but writing it out failed (%v), and deleting it failed too (%v): delete it with 'clients delete'", cl.ID, err, derr)
			}
			return errorf("writing the new client failed, so it was not kept: %v", err)
		}
		return nil
	})
}

func (c *cli) clientsList(args []string) error {
	fs := c.flagSet("clients list")
	var consumer string
	fs.StringVar(&consumer, "consumer", "", "only this consumer's clients")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("clients list takes no arguments, got %q", pos[0])
	}
	return c.withStore(func(ctx context.Context, s store.Store) error {
		cls, err := s.Clients(ctx, consumer)
		if err != nil {
			return err
		}
		out := make([]clientJSON, 0, len(cls))
		for _, cl := range cls {
			out = append(out, clientView(cl))
		}
		return c.printJSON(out)
	})
}

func (c *cli) clientsDelete(args []string) error {
	fs := c.flagSet("clients delete")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: clients delete CLIENT_ID")
	}
	return c.withStore(func(ctx context.Context, s store.Store) error {
		if err := s.DeleteClient(ctx, pos[0]); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errNoClient(pos[0])
			}
			return err
		}
		return c.printJSON(map[string]any{"deleted": pos[0]})
	})
}

// isSet reports whether the flag was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// checkClientID accepts printable ids without spaces: a client_id travels in
// form bodies and in Basic credentials (where ':' would split it).
func checkClientID(id string) error {
	if len(id) > 255 {
		return usagef("clients create: --client-id is longer than 255 characters")
	}
	if !oauth.Printable(id) || strings.ContainsAny(id, ": ") || strings.IndexFunc(id, unicode.IsSpace) >= 0 {
		return usagef("clients create: --client-id must be printable, without spaces or ':'")
	}
	return nil
}

// checkRedirectURI mirrors Kong's validator: scheme and host, no fragment.
func checkRedirectURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return usagef("clients create: cannot parse '%s'", s)
	}
	if u.Fragment != "" || strings.Contains(s, "#") {
		return usagef("clients create: fragment not allowed in '%s'", s)
	}
	return nil
}
