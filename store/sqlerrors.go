package store

import (
	"errors"

	"github.com/lib/pq"
)

// isForeignKeyViolation reports an INSERT refused because a row it refers
// to does not exist: PostgreSQL's SQLSTATE 23503 (foreign_key_violation,
// e.g. tokens_client_id_fkey), SQLite's SQLITE_CONSTRAINT_FOREIGNKEY.
func isForeignKeyViolation(err error) bool {
	if pe := (*pq.Error)(nil); errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se interface{ Code() int }
	return errors.As(err, &se) && se.Code() == sqliteConstraintForeignKey
}

// sqliteConstraintForeignKey is SQLite's extended result code
// SQLITE_CONSTRAINT_FOREIGNKEY (modernc.org/sqlite/lib).
const sqliteConstraintForeignKey = 787
