// The Kong 2.x build: oauth2-password.so for go-pluginserver v0.6.1, and
// go-pluginserver itself (the tool line), from this one module so that both
// link the same go-pdk and codec versions (Go's plugin loader refuses a .so
// whose shared packages differ from the loading binary's in any way).
module github.com/oauth2-password/oauth2-password/pdk/kong2

go 1.26.8

require (
	github.com/Kong/go-pdk v0.11.0
	github.com/oauth2-password/oauth2-password v0.0.0
)

require (
	github.com/Kong/go-pluginserver v0.6.1 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/lib/pq v1.12.3 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/patrickmn/go-cache v2.1.0+incompatible // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/ugorji/go/codec v1.2.12 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
	modernc.org/sqlite v1.62.0 // indirect
)

// The engine and the store are the main module's.
replace github.com/oauth2-password/oauth2-password => ../..

// go-pluginserver v0.6.1 requires go-pdk v0.6.0 (the MessagePack PDK); the
// main module's v0.11.0 would win version selection, so every version is
// replaced by v0.6.0 here.
replace github.com/Kong/go-pdk => github.com/Kong/go-pdk v0.6.0

tool github.com/Kong/go-pluginserver
