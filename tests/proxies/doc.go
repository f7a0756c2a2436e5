// Package proxies runs `oauth2-password serve` behind real reverse proxies
// (Debian's nginx and Caddy, started by the tests on loopback) with the
// configuration files kept here, which are also the examples the README
// points users to: nginx.conf, Caddyfile, and traefik.yml (Traefik has no
// Debian package; its tests check the header contract with a small proxy
// that does what Traefik's ForwardAuth does).
//
// The files use placeholders for addresses and paths only: ${NAME} in
// nginx.conf (envsubst style) and {$NAME} in the Caddyfile (Caddy's own
// environment placeholders). The names are those of Env.
package proxies
