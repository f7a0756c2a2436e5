package plugin

import (
	"reflect"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want params
	}{
		{"", params{}},
		{"a=1&b=x+y&c=%41", params{"a": "1", "b": "x y", "c": "A"}},
		{"flag&empty=", params{"flag": true, "empty": ""}},
		{"a=1&a=2&a", params{"a": []any{"1", "2", true}}},
		{"bad=%zz&&=v", params{"bad": "%zz"}},
	} {
		got, err := parseArgs(tc.raw)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseArgs(%q) = %v, %v; want %v", tc.raw, got, err, tc.want)
		}
	}
}

func TestStripArg(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"access_token=x", ""},
		{"a=1&access_token=x&b=%20", "a=1&b=%20"},
		{"access%5Ftoken=x&a", "a"},
		{"access_token&access_token=y&z=1", "z=1"},
		{"a=1", "a=1"},
	} {
		if got, _ := stripArg(tc.raw, "access_token"); got != tc.want {
			t.Errorf("stripArg(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestBodyKindOf(t *testing.T) {
	for ct, want := range map[string]bodyKind{
		"application/x-www-form-urlencoded; charset=UTF-8": bodyForm,
		"Application/JSON":                bodyJSON,
		"multipart/form-data; boundary=x": bodyMultipart,
		"text/plain":                      bodyNone,
		"":                                bodyNone,
	} {
		if got := bodyKindOf(ct); got != want {
			t.Errorf("bodyKindOf(%q) = %v, want %v", ct, got, want)
		}
	}
}
