package store

import (
	"encoding/hex"
	"math"
	"time"
	"unique"
	"unsafe"
)

// tokenEntry is the cached form of a Token, laid out for a cache of a
// million tokens: one 128-byte allocation (the cache key included) plus,
// usually, one short string for the user id.
//
//   - Client id, service id and scope repeat across tokens: they are
//     interned together (one unique.Handle, one pointer; the interned string
//     is freed once no entry uses it).
//   - The family id the engine makes (32 hex digits) is kept as 16 bytes.
//   - Times are unix seconds in 32 bits (good until 2106); expires_in
//     in 32 bits (68 years).
//
// A token that does not fit (see cacheable) is simply not cached.
type tokenEntry struct {
	access     Digest   // also the bytes of the cache key (see key)
	refresh    Digest   // valid if flags&hasRefresh
	family     [16]byte // the family id, if flags&familyHex
	ids        string   // [family id unless familyHex] + authenticated_userid
	meta       unique.Handle[string]
	used       HotBit // the clock's "recently used" bit (Bounded)
	expiresIn  int32
	issuedAt   uint32
	refreshExp uint32 // valid if flags&hasRefreshExp
	clientLen  uint16 // meta = client_id + service_id + scope
	serviceLen uint16
	familyLen  uint16 // length of the family id at the start of ids
	flags      uint8
}

const (
	hasRefresh uint8 = 1 << iota
	hasRefreshExp
	familyHex
)

// The layout above is sized to the 128-byte allocation class.
var _ [128 - unsafe.Sizeof(tokenEntry{})]byte

func fitsUint32(t time.Time) bool { u := t.Unix(); return u >= 0 && u <= math.MaxUint32 }

// cacheable reports whether t fits a tokenEntry.
func cacheable(t *Token) bool {
	return fitsUint32(t.IssuedAt) &&
		(t.RefreshExpiresAt.IsZero() || fitsUint32(t.RefreshExpiresAt)) &&
		len(t.ClientID) <= math.MaxUint16 && len(t.ServiceID) <= math.MaxUint16 &&
		len(t.FamilyID) <= math.MaxUint16 && t.ExpiresIn <= math.MaxInt32 && t.ExpiresIn >= math.MinInt32
}

// newTokenEntry builds the entry of a cacheable token.
func newTokenEntry(t *Token) *tokenEntry {
	e := &tokenEntry{
		access:     t.Access,
		meta:       unique.Make(t.ClientID + t.ServiceID + t.Scope),
		expiresIn:  int32(t.ExpiresIn),
		issuedAt:   uint32(t.IssuedAt.Unix()),
		clientLen:  uint16(len(t.ClientID)),
		serviceLen: uint16(len(t.ServiceID)),
	}
	if len(t.FamilyID) == 2*len(e.family) && isLowerHex(t.FamilyID) {
		hex.Decode(e.family[:], []byte(t.FamilyID))
		e.flags |= familyHex
		e.ids = t.AuthenticatedUserID
	} else {
		e.familyLen = uint16(len(t.FamilyID))
		e.ids = t.FamilyID + t.AuthenticatedUserID
	}
	if t.Refresh != nil {
		e.refresh = *t.Refresh
		e.flags |= hasRefresh
	}
	if !t.RefreshExpiresAt.IsZero() {
		e.refreshExp = uint32(t.RefreshExpiresAt.Unix())
		e.flags |= hasRefreshExp
	}
	return e
}

// isLowerHex: hex.EncodeToString gives back exactly s.
func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// key is the cache key, string(access[:]), sharing the entry's memory
// instead of allocating 32 more bytes per token. The entry is never
// modified after it is built, so the string is immutable as Go requires.
func (e *tokenEntry) key() string {
	return unsafe.String(&e.access[0], len(e.access))
}

// token rebuilds the Token: no allocation beyond the refresh digest and a
// hex family id.
func (e *tokenEntry) token() Token {
	meta := e.meta.Value()
	svcEnd := int(e.clientLen) + int(e.serviceLen)
	t := Token{
		Access:              e.access,
		ClientID:            meta[:e.clientLen],
		ServiceID:           meta[e.clientLen:svcEnd],
		Scope:               meta[svcEnd:],
		IssuedAt:            time.Unix(int64(e.issuedAt), 0),
		ExpiresIn:           int64(e.expiresIn),
		AuthenticatedUserID: e.ids[e.familyLen:],
	}
	if e.flags&familyHex != 0 {
		t.FamilyID = hex.EncodeToString(e.family[:])
	} else {
		t.FamilyID = e.ids[:e.familyLen]
	}
	if e.flags&hasRefresh != 0 {
		r := e.refresh
		t.Refresh = &r
	}
	if e.flags&hasRefreshExp != 0 {
		t.RefreshExpiresAt = time.Unix(int64(e.refreshExp), 0)
	}
	return t
}

// accessToken is token() without what validation does not need: it
// allocates nothing (the strings share the entry's memory).
func (e *tokenEntry) accessToken() AccessToken {
	meta := e.meta.Value()
	svcEnd := int(e.clientLen) + int(e.serviceLen)
	return AccessToken{
		ClientID:            meta[:e.clientLen],
		ServiceID:           meta[e.clientLen:svcEnd],
		Scope:               meta[svcEnd:],
		IssuedAt:            time.Unix(int64(e.issuedAt), 0),
		ExpiresIn:           int64(e.expiresIn),
		AuthenticatedUserID: e.ids[e.familyLen:],
	}
}

// accessExpired is Token.AccessExpired on the entry.
func (e *tokenEntry) accessExpired(now time.Time) bool {
	return e.expiresIn > 0 && now.Unix()-int64(e.issuedAt) > int64(e.expiresIn)
}

func (e *tokenEntry) touch()           { e.used.touch() }
func (e *tokenEntry) spare() bool      { return e.used.spare() }
func (e *tokenEntry) CacheKey() string { return e.key() }
