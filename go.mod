module github.com/oauth2-password/oauth2-password

go 1.26.8

require (
	github.com/Kong/go-pdk v0.11.0
	github.com/lib/pq v1.12.3
	github.com/patrickmn/go-cache v2.1.0+incompatible
	github.com/ugorji/go/codec v1.2.12
	golang.org/x/oauth2 v0.38.0
	google.golang.org/protobuf v1.33.0
	gopkg.in/yaml.v3 v3.0.1
	modernc.org/sqlite v1.62.0
)

require (
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/sys v0.49.0 // indirect
	modernc.org/libc v1.80.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)
