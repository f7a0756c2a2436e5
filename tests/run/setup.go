package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/oauth2-password/oauth2-password/tests/tlscert"
)

// setup is the example kept in the run directory.
type setup struct {
	config, cert, key, dbURL string
	envFile                  string       // CLIENT_ID, CLIENT_SECRET, PROVISION_KEY for the curl lines
	client                   *http.Client // trusts cert only
}

// configTemplate is the example serve config: the contract's format, with
// one consumer and one service.
const configTemplate = `# make run's example serve config (docs/serve.md, "Use it without Kong").
# The provision key was generated on the first run; it stays until you
# delete this file.
trusted_ips: ["127.0.0.1/32", "::1/128"]
consumers:
  - username: bob
    custom_id: crm-17
services:
  orders:
    provision_key: %q
    scopes: [orders.read, orders.write]
`

// prepare creates what is missing in dir and keeps what is there: the
// config (and its provision key), the certificate, the store and its
// example client.
func prepare(dir, bin string) (*setup, error) {
	return prepareWith(dir, bin, func() []byte { return fmt.Appendf(nil, configTemplate, randomKey()) }, "bob")
}

// prepareWith is prepare with another first config and the consumer of the
// example client.
func prepareWith(dir, bin string, newConfig func() []byte, consumer string) (*setup, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &setup{config: filepath.Join(dir, "serve.yaml"), cert: filepath.Join(dir, "cert.pem"),
		key: filepath.Join(dir, "key.pem"), dbURL: "sqlite:" + filepath.Join(dir, "oauth2-password.db"),
		envFile: filepath.Join(dir, "client.env")}
	if _, err := os.Stat(s.config); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(s.config, newConfig(), 0o600); err != nil {
			return nil, err
		}
	}
	if !exists(s.cert) || !exists(s.key) {
		if _, _, err := tlscert.Write(dir, 365*24*time.Hour); err != nil {
			return nil, err
		}
	}
	pool, err := tlscert.Pool(s.cert)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	s.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}

	pk, err := provisionKey(s.config)
	if err != nil {
		return nil, err
	}
	id, secret, err := s.exampleClient(bin, consumer)
	if err != nil {
		return nil, err
	}
	env := fmt.Sprintf("# make run's example client (a local demo: never a real secret)\nCLIENT_ID=%s\nCLIENT_SECRET=%s\nPROVISION_KEY=%s\n", id, secret, pk)
	return s, os.WriteFile(s.envFile, []byte(env), 0o600)
}

// exampleClient is the client of client.env if the store still has it,
// else a new one registered with the CLI. Its secret is kept in client.env
// only: the store has a digest of it.
func (s *setup) exampleClient(bin, consumer string) (id, secret string, err error) {
	old := readEnv(s.envFile)
	// clients list refuses a store file that does not exist (deleted).
	if old["CLIENT_ID"] != "" && old["CLIENT_SECRET"] != "" && exists(strings.TrimPrefix(s.dbURL, "sqlite:")) {
		out, err := cli(bin, s.dbURL, "clients", "list", "--consumer", consumer)
		if err != nil {
			return "", "", err
		}
		if bytes.Contains(out, []byte(`"client_id":"`+old["CLIENT_ID"]+`"`)) {
			return old["CLIENT_ID"], old["CLIENT_SECRET"], nil
		}
	}
	out, err := cli(bin, s.dbURL, "clients", "create", "--consumer", consumer, "--name", "example client")
	if err != nil {
		return "", "", err
	}
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.Secret == "" {
		return "", "", fmt.Errorf("clients create answered %d bytes that are no client", len(out))
	}
	return c.ID, c.Secret, nil
}

func cli(bin, dbURL string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, append(args, "-database-url", dbURL)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("oauth2-password %s: %v: %s", strings.Join(args[:2], " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// provisionKey reads the provision key of `orders` from the config.
func provisionKey(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var c struct {
		Services map[string]struct {
			ProvisionKey string `yaml:"provision_key"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	pk := c.Services["orders"].ProvisionKey
	if pk == "" {
		return "", fmt.Errorf("%s: services.orders.provision_key is missing (delete the file to start afresh)", path)
	}
	return pk, nil
}

// readEnv reads NAME=value lines.
func readEnv(path string) map[string]string {
	m := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			m[k] = v
		}
	}
	return m
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// randomKey is 26 base32 characters (130 bits).
func randomKey() string { return rand.Text() }
