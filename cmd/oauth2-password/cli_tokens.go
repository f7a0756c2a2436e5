package main

import (
	"bufio"
	"context"
	"errors"
	"strings"

	"github.com/oauth2-password/oauth2-password/store"
)

func (c *cli) tokensRevoke(args []string) error {
	fs := c.flagSet("tokens revoke")
	var access, refresh, client, user string
	fs.StringVar(&access, "access-token", "", "revoke this access token (- reads it from stdin)")
	fs.StringVar(&refresh, "refresh-token", "", "revoke this refresh token and every token descended from the same grant (- reads it from stdin)")
	fs.StringVar(&client, "client", "", "revoke every token of this client_id")
	fs.StringVar(&user, "user", "", "revoke every token of this authenticated_userid")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("tokens revoke takes no arguments, got %q", pos[0])
	}
	n := 0
	for _, v := range []string{access, refresh, client, user} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return usagef("tokens revoke needs exactly one of --access-token, --refresh-token, --client, --user")
	}

	var r store.Revocation
	switch {
	case access != "":
		t, err := c.secretArg("tokens revoke: no token", access)
		if err != nil {
			return err
		}
		d := store.DigestOf(strings.TrimSpace(t)) // a token has no spaces
		r.Access = &d
	case refresh != "":
		t, err := c.secretArg("tokens revoke: no token", refresh)
		if err != nil {
			return err
		}
		d := store.DigestOf(strings.TrimSpace(t))
		r.Refresh = &d
	case client != "":
		r.ClientID = client
	default:
		r.UserID = user
	}

	return c.withStore(func(ctx context.Context, s store.Store) error {
		if r.ClientID != "" {
			// As `clients delete` answers: a typo is not "0 revoked".
			if _, err := s.Client(ctx, r.ClientID); errors.Is(err, store.ErrNotFound) {
				return errNoClient(r.ClientID)
			} else if err != nil {
				return err
			}
		}
		count, err := s.Revoke(ctx, r)
		if err != nil {
			return err
		}
		return c.printJSON(map[string]int{"revoked": count})
	})
}

// secretArg returns a token or secret given on the command line, or read
// from the first line of stdin for "-" so that it stays out of the process
// list: the line as it is but its end ("\n" or "\r\n"), since spaces may be
// part of a client secret. what starts the error for an empty stdin.
func (c *cli) secretArg(what, v string) (string, error) {
	if v != "-" {
		return v, nil
	}
	sc := bufio.NewScanner(c.stdin)
	if !sc.Scan() {
		return "", usagef("%s on stdin", what)
	}
	t := strings.TrimSuffix(sc.Text(), "\r")
	if strings.TrimSpace(t) == "" {
		return "", usagef("%s on stdin", what)
	}
	return t, nil
}
