package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProvisionKeyFile: a service's provision_key may come from a file (a
// mounted Kubernetes Secret); its first line is the key.
func TestProvisionKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("orders", "pk-orders-from-a-secret-0123\n")
	crlf := write("crlf", "pk-orders-from-a-secret-0123\r\nignored\n")
	empty := write("empty", "\nsecond line\n")
	for _, tc := range []struct {
		name, service string
		wantKey       string
		wantErr       string
	}{
		{"first line is the key", "provision_key_file: " + good, "pk-orders-from-a-secret-0123", ""},
		{"CRLF file", "provision_key_file: " + crlf, "pk-orders-from-a-secret-0123", ""},
		{"empty first line", "provision_key_file: " + empty, "", "the first line is empty"},
		{"missing file", "provision_key_file: " + filepath.Join(dir, "nope"), "", "no such file"},
		{"both", "provision_key_file: " + good + "\n    provision_key: pk-inline-0123456789", "", "exclude each other"},
		{"not a string", "provision_key_file: [a]", "", "must be a file path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := write("serve.yaml", "services:\n  orders:\n    "+tc.service+"\n")
			lc, err := loadServeConfig(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "services.orders.provision_key_file") {
					t.Fatalf("err %v, want one naming services.orders.provision_key_file and %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(lc.services["orders"]); !strings.Contains(got, `"provision_key":"`+tc.wantKey+`"`) || strings.Contains(got, "provision_key_file") {
				t.Fatalf("service config %s, want provision_key %q and no provision_key_file", got, tc.wantKey)
			}
		})
	}
}

// TestServeConfigFileErrors: a config file that is not one YAML document
// of the expected shape is a usage error saying so, never quoting a value
// (a provision key one level too high is quoted by the YAML decoder).
func TestServeConfigFileErrors(t *testing.T) {
	const key = "Zq8pL2vX9mN4kR7tW1yB"
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "the file is empty"},
		{"comments only", "# nothing yet\n", "the file is empty"},
		{"key one level too high", "services:\n  orders:\n  provision_key: \"" + key + "\"\n", "cannot unmarshal a !!str value"},
		{"key as the service", "services:\n  orders: \"" + key + "\"\n", "cannot unmarshal a !!str value"},
		{"two documents", "services:\n  orders:\n    provision_key: pk-0123456789abcdef\n---\nservices:\n  more: {}\n", "more than one YAML document"},
		// Dot segments never reach /services/SERVICE/: clients and
		// proxies resolve them.
		{"service ..", "services:\n  \"..\":\n    provision_key: pk-0123456789abcdef\n", "is not a service name"},
		{"service .", "services:\n  \".\":\n    provision_key: pk-0123456789abcdef\n", "is not a service name"},
		// Consumer fields go upstream in X-Consumer-* headers.
		{"control character in custom_id", "consumers:\n  - username: bob\n    custom_id: \"crm\\u0007x\"\nservices:\n  orders:\n    provision_key: pk-0123456789abcdef\n", "consumers[0].custom_id: must be printable"},
		{"line break in username", "consumers:\n  - username: \"bob\\r\\nX-Injected: 1\"\nservices:\n  orders:\n    provision_key: pk-0123456789abcdef\n", "consumers[0].username: must be printable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "serve.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := loadServeConfig(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), key[:4]) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err %q quotes the value or spans lines", err)
			}
		})
	}
}
