package store_test

import (
	"testing"

	"github.com/oauth2-password/oauth2-password/store/pgtest"
)

// pg is the PostgreSQL server of this package's tests (see pgtest).
var pg *pgtest.Server

func TestMain(m *testing.M) { pgtest.Main(m, &pg) }
