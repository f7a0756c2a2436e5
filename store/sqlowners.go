package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// owner is a row of token_owners (migration 0005): the client and service
// of the tokens that name its id.
type owner struct{ client, service string }

// ownerCache maps owner ids to owners for the life of the process. An
// owner row never changes and its id is never given to another (an
// identity column), so an entry is never stale: a deleted owner's tokens
// are deleted with it, and no row names its id again. There is one owner
// per client and service, a few thousand at most.
type ownerCache struct{ m sync.Map } // int32 → owner

func (c *ownerCache) get(ctx context.Context, db *sql.DB, id int32) (owner, error) {
	if o, ok := c.m.Load(id); ok {
		return o.(owner), nil
	}
	var o owner
	err := db.QueryRowContext(ctx, `SELECT client_id, service_id FROM token_owners WHERE id = $1`, id).Scan(&o.client, &o.service)
	if err != nil {
		// A token row whose owner is gone was deleted with it meanwhile.
		return owner{}, notFound(err, fmt.Sprintf("read token owner %d", id))
	}
	if c != nil {
		c.m.Store(id, o)
	}
	return o, nil
}
