package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"

	"github.com/oauth2-password/oauth2-password/plugin"
	"github.com/oauth2-password/oauth2-password/plugin/jwtkeys"
)

// Signing keys of upstream JWTs (docs/upstream-jwt.md): -signing-key FILE
// (repeatable; the first signs, all are published) and -issuer URL, in
// Kong mode and serve mode alike; `keys generate` makes a key.

// fileList is a repeatable flag.
type fileList []string

func (l *fileList) String() string     { return strings.Join(*l, ",") }
func (l *fileList) Set(v string) error { *l = append(*l, v); return nil }

// signingFlags are the key flags, part of engineFlags.
type signingFlags struct {
	keys   fileList
	issuer string
}

func (f *signingFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.keys, "signing-key", "PEM private key (Ed25519 or EC P-256) that signs upstream JWTs (upstream_jwt); repeatable: the first signs, every one is published in the JWKS (rotation)")
	fs.StringVar(&f.issuer, "issuer", "", "issuer URL of upstream JWTs (their iss) and of the RFC 8414 metadata; required with -signing-key")
}

// signer loads the keys, or returns nil without -signing-key. Errors name
// the file and the flag, never a key's contents.
func (f *signingFlags) signer() (plugin.Signer, *jwtkeys.Set, error) {
	switch {
	case len(f.keys) == 0 && f.issuer == "":
		return nil, nil, nil
	case len(f.keys) == 0:
		return nil, nil, usagef("-issuer needs -signing-key FILE (the key that signs upstream JWTs)")
	case f.issuer == "":
		return nil, nil, usagef("-signing-key needs -issuer URL (the iss of upstream JWTs)")
	}
	set, err := jwtkeys.Load(f.issuer, f.keys)
	if err != nil {
		return nil, nil, usagef("-signing-key/-issuer: %v", err)
	}
	return set, set, nil
}

// keysGenerate is `oauth2-password keys generate --type ed25519|es256
// [--out FILE]`: a new private key as PEM on stdout, or in a new file of
// mode 0600 (never over an existing one).
func (c *cli) keysGenerate(args []string) error {
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are one line, from parse
	typ := fs.String("type", jwtkeys.TypeEd25519, "key type: ed25519 (EdDSA) or es256 (EC P-256)")
	out := fs.String("out", "", "write the key to this new file (mode 0600) instead of stdout")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("keys generate takes no arguments")
	}
	pem, err := jwtkeys.Generate(*typ)
	if err != nil {
		return usagef("keys generate: %v", err)
	}
	if *out == "" {
		_, err := c.stdout.Write(pem)
		return err
	}
	fh, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return errorf("keys generate: %s already exists (a key is never overwritten)", *out)
		}
		return errorf("keys generate: %v", err)
	}
	if _, err := fh.Write(pem); err != nil {
		fh.Close()
		return errorf("keys generate: %v", err)
	}
	return fh.Close()
}
