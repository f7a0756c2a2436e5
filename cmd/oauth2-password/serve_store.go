package main

import (
	"os"
	"path/filepath"
)

// serveStoreFile is the embedded store serve uses when no store is named:
// a standalone server's data, so the XDG base directory for it
// ($XDG_DATA_HOME, else ~/.local/share), not Kong's prefix, which a host
// without Kong lacks. The directory is created (0700: it holds token
// digests and client secret hashes).
const serveStoreFile = "oauth2-password/oauth2-password.db"

func serveDefaultStore() (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	// The XDG spec: a relative path in the variable is invalid; ignore it.
	if base == "" || !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", errorf("serve: no store named (-database-url) and no $HOME or $XDG_DATA_HOME for the default one: %v", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	path := filepath.Join(base, serveStoreFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", errorf("serve: the default store's directory: %v", err)
	}
	return path, nil
}
