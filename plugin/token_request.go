package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"
)

// params are request parameters the way Kong's PDK presents them
// (kong/BEHAVIOUR.md): a string; true for a query argument
// without "="; []any for a repeated argument; any JSON value for a JSON
// body. Checks that need a string must say so (params.str).
type params map[string]any

// str returns the parameter when it is a string.
func (p params) str(name string) (string, bool) {
	s, ok := p[name].(string)
	return s, ok
}

// maxParams refuses absurd requests cleanly instead of building huge maps.
// nginx itself stops at 100 arguments; we stop well above that, loudly.
const maxParams = 1000

var errTooManyParams = errors.New("too many parameters")

// bodyKind is the parser Kong's kong.request.get_body would pick.
type bodyKind int

const (
	bodyNone bodyKind = iota
	bodyForm
	bodyJSON
	bodyMultipart
)

// bodyKindOf picks the parser by Content-Type: lower-cased, cut at ";",
// prefix match, as kong.request.get_body does.
func bodyKindOf(contentType string) bodyKind {
	ct, _, _ := strings.Cut(strings.ToLower(contentType), ";")
	ct = strings.TrimSpace(ct)
	switch {
	case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
		return bodyForm
	case strings.HasPrefix(ct, "application/json"):
		return bodyJSON
	case strings.HasPrefix(ct, "multipart/form-data"):
		return bodyMultipart
	}
	return bodyNone
}

// isFormContentType is Kong's hide_credentials test for a form body
// (a substring match, unlike bodyKindOf).
func isFormContentType(contentType string) bool {
	return strings.Contains(strings.ToLower(contentType), "application/x-www-form-urlencoded")
}

// parseArgs parses a query string or form body like ngx.decode_args:
// "a" alone is true, "a=" is "", repeats become a list. With more than
// maxParams arguments it returns errTooManyParams and the first
// maxParams, from which the answer still echoes state.
func parseArgs(raw string) (params, error) {
	p := params{}
	if raw == "" {
		return p, nil
	}
	var err error
	if strings.Count(raw, "&") >= maxParams {
		err = errTooManyParams
	}
	n := 0
	for piece := range strings.SplitSeq(raw, "&") {
		if n++; n > maxParams {
			break
		}
		if piece == "" {
			continue
		}
		k, v, hasEq := strings.Cut(piece, "=")
		key := unescapeArg(k)
		if key == "" {
			continue
		}
		var val any = true
		if hasEq {
			val = unescapeArg(v)
		}
		p.add(key, val)
	}
	return p, err
}

func (p params) add(key string, val any) {
	switch old := p[key].(type) {
	case nil:
		p[key] = val
	case []any:
		p[key] = append(old, val)
	default:
		p[key] = []any{old, val}
	}
}

// unescapeArg decodes %XX and "+"; a malformed escape is kept verbatim, as
// nginx does, rather than rejecting the request.
func unescapeArg(s string) string {
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}

// parseBody parses a request body of the given kind. Like Kong, a body
// that does not parse is ignored (nil, nil); only errTooManyParams is an
// error.
func parseBody(kind bodyKind, contentType string, body []byte) (params, error) {
	switch kind {
	case bodyForm:
		return parseArgs(string(body))
	case bodyJSON:
		return parseJSONBody(body)
	case bodyMultipart:
		return parseMultipart(contentType, body)
	}
	return nil, nil
}

// parseJSONBody accepts one JSON object; anything else is ignored. An
// object of more than maxParams members is errTooManyParams, as a form
// body of as many arguments is (the object is returned too, for state).
func parseJSONBody(body []byte) (params, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep numbers as non-strings without float rounding
	var obj map[string]any
	if dec.Decode(&obj) != nil || obj == nil {
		return nil, nil
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil // trailing data: cjson would refuse the document
	}
	if len(obj) > maxParams {
		return params(obj), errTooManyParams
	}
	return params(obj), nil
}

func parseMultipart(contentType string, body []byte) (params, error) {
	_, mp, err := mime.ParseMediaType(contentType)
	if err != nil || mp["boundary"] == "" {
		return nil, nil
	}
	mr := multipart.NewReader(bytes.NewReader(body), mp["boundary"])
	p := params{}
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return p, nil
		}
		if n >= maxParams { // a part past the 1000th
			return p, errTooManyParams
		}
		if err != nil {
			return nil, nil
		}
		name := part.FormName()
		v, err := io.ReadAll(part) // bounded: the whole body is at most MaxBodyBytes
		if err != nil {
			return nil, nil
		}
		if name != "" {
			p.add(name, string(v))
		}
	}
}

// stripArg removes every name=... (and bare name) argument from a query
// string or form body, leaving the other arguments byte for byte.
func stripArg(raw, name string) (string, bool) {
	if raw == "" {
		return raw, false
	}
	pieces := strings.Split(raw, "&")
	kept := pieces[:0]
	changed := false
	for _, piece := range pieces {
		k, _, _ := strings.Cut(piece, "=")
		if unescapeArg(k) == name {
			changed = true
			continue
		}
		kept = append(kept, piece)
	}
	return strings.Join(kept, "&"), changed
}
